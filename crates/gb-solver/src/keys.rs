//! Cache keys: an op's digest combined with its inputs' cache keys and, for sources, a key of
//! the content they bring in.

use gb_cache::CacheKey;
use gb_ir::{OpDigest, Sha256Digest};

/// The cache key of an op: sha256 over its digest, its inputs' keys (in input order, with the
/// output index read) and its content key. The digest already covers the op's own fields and
/// its inputs' digests; the inputs' keys add what the digests cannot see (file contents, the
/// manifest an image tag resolved to).
pub fn cache_key(op: &OpDigest, inputs: &[(CacheKey, u32)], content: Option<&str>) -> CacheKey {
    let inputs: Vec<serde_json::Value> =
        inputs.iter().map(|(key, output)| serde_json::json!({ "key": key.0.to_string(), "output": output })).collect();
    let value = serde_json::json!({ "op": op.to_string(), "inputs": inputs, "content": content });
    CacheKey(Sha256Digest::of(&gb_ir::canonical_json(&value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> OpDigest {
        OpDigest(Sha256Digest::of(text.as_bytes()))
    }

    #[test]
    fn every_part_changes_the_key() {
        let base = cache_key(&digest("op"), &[(CacheKey(Sha256Digest::of(b"in")), 0)], Some("c"));
        assert_ne!(base, cache_key(&digest("other"), &[(CacheKey(Sha256Digest::of(b"in")), 0)], Some("c")));
        assert_ne!(base, cache_key(&digest("op"), &[(CacheKey(Sha256Digest::of(b"in2")), 0)], Some("c")));
        assert_ne!(base, cache_key(&digest("op"), &[(CacheKey(Sha256Digest::of(b"in")), 1)], Some("c")));
        assert_ne!(base, cache_key(&digest("op"), &[(CacheKey(Sha256Digest::of(b"in")), 0)], Some("d")));
        assert_ne!(base, cache_key(&digest("op"), &[(CacheKey(Sha256Digest::of(b"in")), 0)], None));
        assert_eq!(base, cache_key(&digest("op"), &[(CacheKey(Sha256Digest::of(b"in")), 0)], Some("c")));
    }
}
