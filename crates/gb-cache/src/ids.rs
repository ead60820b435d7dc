//! The names the store files things under: cache keys, layer ids, and snapshots (stacks of layers).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use gb_ir::{DigestParseError, Sha256Digest};
use serde::{Deserialize, Serialize};

use crate::error::CacheError;

/// A cache key: sha256 over an op's digest, its inputs' cache keys and its content key
/// (computed by the solver, see `docs/engine.md`). Stored as its 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CacheKey(pub Sha256Digest);

impl CacheKey {
    /// The key's bytes in the results table.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.0)
    }
}

impl FromStr for CacheKey {
    type Err = DigestParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Self)
    }
}

/// What a dangling image's name starts with.
const DANGLING_PREFIX: &str = "<none>@";

/// A name in the image store: a normalized image reference
/// (`docker.io/library/busybox:latest`), the one form images are filed under, so `busybox`,
/// `library/busybox` and `docker.io/library/busybox:latest` are one name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageName(String);

impl ImageName {
    /// The name of a parsed reference.
    pub fn of(reference: &gb_ir::ImageReference) -> Self {
        Self(reference.to_string())
    }

    /// Parses and normalizes a name as docker does (`busybox` is `docker.io/library/busybox:latest`).
    pub fn parse(text: &str) -> Result<Self, gb_ir::ReferenceError> {
        gb_ir::ImageReference::parse(text).map(|reference| Self::of(&reference))
    }

    /// The name an image is kept under once no name holds it (docker's dangling `<none>:<none>`):
    /// `<none>@` and its id. `<` is in no image reference, so this never meets a real name, and
    /// it is found by its id only.
    pub fn dangling(config_digest: &Sha256Digest) -> Self {
        Self(format!("{DANGLING_PREFIX}{config_digest}"))
    }

    /// Whether this is a dangling image's name ([`Self::dangling`]).
    pub fn is_dangling(&self) -> bool {
        self.0.starts_with(DANGLING_PREFIX)
    }

    /// A name read back from the store, which only ever files normalized names.
    pub(crate) fn stored(text: String) -> Self {
        Self(text)
    }

    /// The normalized text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a reference.
    pub fn reference(&self) -> Result<gb_ir::ImageReference, gb_ir::ReferenceError> {
        gb_ir::ImageReference::parse(&self.0)
    }

    /// The short form docker shows (`busybox:latest`).
    pub fn familiar(&self) -> String {
        self.reference().map_or_else(|_| self.0.clone(), |reference| reference.familiar())
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageName({})", self.0)
    }
}

/// A committed layer directory's id (`ROOT/layers/<id>/`): 32 lowercase hex digits, random.
///
/// The field is public for pattern matching; ids that come from outside (a command line, a
/// hand-edited database) should go through [`str::parse`], which rejects anything that would not
/// be a plain directory name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LayerId(pub String);

impl LayerId {
    /// A fresh id: 128 random bits, hex.
    pub fn random() -> Self {
        Self(hex::encode(random_bytes()))
    }

    /// The id as text (the directory name).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is 32 lowercase hex digits, i.e. safe to join onto a directory.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == 32 && self.0.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerId({})", self.0)
    }
}

impl FromStr for LayerId {
    type Err = CacheError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let id = Self(text.to_owned());
        if id.is_well_formed() { Ok(id) } else { Err(CacheError::InvalidLayerId { text: text.to_owned() }) }
    }
}

/// A snapshot: a stack of layers, bottom first. The empty stack is scratch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The layers, bottom first.
    pub layers: Vec<LayerId>,
}

impl Snapshot {
    /// Whether this is the empty snapshot (no layers).
    pub fn is_scratch(&self) -> bool {
        self.layers.is_empty()
    }
}

/// 16 random bytes from `/dev/urandom`.
///
/// These name directories and temporary files, so what matters is that they don't collide, not
/// that they are secret: if `/dev/urandom` can't be read (a chroot without `/dev`), the bytes are
/// derived from the time, the process id and a counter instead of failing the build.
pub(crate) fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes)).is_ok() {
        return bytes;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}/{}/{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let digest = Sha256Digest::of(seed.as_bytes());
    bytes.copy_from_slice(&digest.as_bytes()[..16]);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_layer_ids_are_well_formed_and_distinct() {
        let a = LayerId::random();
        let b = LayerId::random();
        assert!(a.is_well_formed(), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<LayerId>().expect("parses"), a);
    }

    #[test]
    fn layer_ids_that_are_not_plain_names_are_rejected() {
        for bad in ["", "../etc", "ABCDEF0123456789ABCDEF0123456789", &"0".repeat(31), &"0".repeat(33)] {
            assert!(bad.parse::<LayerId>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn cache_keys_serialize_as_digest_strings() {
        let key = CacheKey(Sha256Digest::of(b"op"));
        let json = serde_json::to_string(&key).expect("serializes");
        assert_eq!(json, format!("\"{}\"", key.0));
        assert_eq!(serde_json::from_str::<CacheKey>(&json).expect("deserializes"), key);
        assert_eq!(key.to_string().parse::<CacheKey>().expect("parses"), key);
    }

    #[test]
    fn layer_ids_serialize_transparently() {
        let snapshot = Snapshot { layers: vec![LayerId("0".repeat(32))] };
        let json = serde_json::to_string(&snapshot).expect("serializes");
        assert_eq!(json, format!("{{\"layers\":[\"{}\"]}}", "0".repeat(32)));
        assert!(Snapshot::default().is_scratch());
    }
}
