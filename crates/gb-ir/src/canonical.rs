//! The canonical byte encoding of an op, which its digest hashes.
//!
//! Canonical JSON here means: the serde serialization of an [`OpNode`] with every object's keys
//! sorted by their UTF-8 bytes, no insignificant whitespace, integers only, and serde_json's
//! string escaping (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other control characters as
//! `\u00XX`, everything else literal). Front ends in other languages reproduce these bytes to
//! compute digests; `docs/ir.md` states the same rules.

use serde::Serialize;

use crate::digest::{OpDigest, Sha256Digest};
use crate::op::OpNode;

/// The canonical JSON bytes of any serializable value (see the module docs).
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Keys are sorted explicitly rather than trusting serde_json's map type: another crate in
    // a build may turn on its `preserve_order` feature, which would keep insertion order.
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    serde_json::to_vec(&sorted(value)).unwrap_or_default()
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

impl OpNode {
    /// This op's digest: sha256 of its canonical JSON.
    pub fn digest(&self) -> OpDigest {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        // Proxy settings reach the process but must not change what the op is.
        if let Some(meta) = value.pointer_mut("/op/exec/meta").and_then(|meta| meta.as_object_mut()) {
            meta.remove("proxy_env");
        }
        OpDigest(Sha256Digest::of(&serde_json::to_vec(&sorted(value)).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;
    use crate::source::SourceOp;

    #[test]
    fn keys_are_sorted_and_compact() {
        let node = OpNode {
            inputs: vec![],
            op: Op::Source(SourceOp::Scratch),
            platform: crate::Platform::parse("linux/amd64"),
        };
        let text = String::from_utf8(canonical_json(&node)).unwrap_or_default();
        assert_eq!(text, r#"{"op":{"source":"scratch"},"platform":{"architecture":"amd64","os":"linux"}}"#);
    }

    #[test]
    fn scratch_digest_is_stable() {
        // This digest is part of the format: a change here breaks every front end's digests.
        let node = OpNode { inputs: vec![], op: Op::Source(SourceOp::Scratch), platform: None };
        assert_eq!(node.digest().to_string(), format!("{}", Sha256Digest::of(br#"{"op":{"source":"scratch"}}"#)));
    }
}
