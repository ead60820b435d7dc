//! The op node: one vertex of the build graph, with its inputs and platform.

use serde::{Deserialize, Serialize};

use crate::digest::OpDigest;
use crate::exec::ExecOp;
use crate::file::FileOp;
use crate::source::SourceOp;

/// One edge into an op: which op it reads and which of that op's outputs.
///
/// Exec ops have one output per writable mount (output 0 is the root file system); every
/// other op has exactly one output, 0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Input {
    /// The op read.
    pub op: OpDigest,
    /// Which output of that op.
    #[serde(default)]
    pub output: u32,
}

impl Input {
    /// Output 0 of `op`.
    pub fn of(op: OpDigest) -> Self {
        Self { op, output: 0 }
    }
}

/// An OCI platform (`linux/amd64`, `linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// The operating system, as GOOS spells it.
    pub os: String,
    /// The CPU architecture, as GOARCH spells it.
    pub architecture: String,
    /// The CPU variant (`v7`, `v8`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI spelling.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self { os: std::env::consts::OS.to_owned(), architecture: architecture.to_owned(), variant: None }
    }

    /// Parses `os/arch[/variant]`; each part is letters, digits, `_`, `.` or `-` (so a list such
    /// as `linux/amd64,linux/arm64` is not one platform).
    pub fn parse(text: &str) -> Option<Self> {
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-')) {
            return None;
        }
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let architecture = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Self { os: os.to_lowercase(), architecture: architecture.to_lowercase(), variant })
    }

    /// Whether an image for `actual` runs as `self` asks: same OS and architecture (aliases
    /// such as `x86_64` normalized), and the variant asked for, if any. arm64 without a
    /// variant is v8, as containerd's matcher says.
    pub fn matches(&self, actual: &Platform) -> bool {
        let architecture = normalize_architecture(&actual.architecture);
        if !actual.os.eq_ignore_ascii_case(&self.os) || architecture != normalize_architecture(&self.architecture) {
            return false;
        }
        match (self.variant.as_deref(), actual.variant.as_deref()) {
            (None, _) => true,
            (Some(wanted), Some(variant)) => wanted == variant,
            (Some(wanted), None) => architecture == "arm64" && wanted == "v8",
        }
    }
}

/// The GOARCH spelling of an architecture name.
fn normalize_architecture(architecture: &str) -> &str {
    match architecture {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" | "armel" => "arm",
        "i386" | "i686" => "386",
        other => other,
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// What an op does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Brings a file system in from outside the graph.
    Source(SourceOp),
    /// Runs a process in a container over mounted inputs.
    Exec(ExecOp),
    /// Applies file actions (mkdir, mkfile, rm, copy) to a base.
    File(FileOp),
    /// Layers all inputs on top of each other, later inputs winning.
    Merge(MergeOp),
    /// The changes that turn `lower` into `upper`.
    Diff(DiffOp),
}

/// Layers every input of the op on top of the previous ones, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeOp {}

/// The difference between two inputs: what `upper` adds, changes or deletes relative to `lower`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffOp {
    /// Index into the op's inputs of the lower file system; `None` means scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<u32>,
    /// Index into the op's inputs of the upper file system.
    pub upper: u32,
}

/// One vertex: an op with its inputs. Its digest is the sha256 of [`crate::canonical_json`] of
/// this struct, so it covers the inputs' digests and nothing of the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpNode {
    /// The ops this op reads, in the order its fields refer to them by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// What the op does.
    pub op: Op,
    /// The platform the op runs for, when it matters (image sources, exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl OpNode {
    /// How many outputs the op has, which bounds the `output` of inputs that read it.
    pub fn output_count(&self) -> u32 {
        match &self.op {
            Op::Exec(exec) => exec.mounts.iter().filter(|m| m.output.is_some()).count() as u32,
            _ => 1,
        }
    }

    /// Every input index the op's fields refer to, so validation can check them.
    pub fn referenced_input_indexes(&self) -> Vec<u32> {
        match &self.op {
            Op::Source(_) => Vec::new(),
            Op::Exec(exec) => exec.mounts.iter().filter_map(|m| m.input).chain(exec.meta.config_from).collect(),
            Op::File(file) => file.referenced_input_indexes(),
            Op::Merge(_) => (0..self.inputs.len() as u32).collect(),
            Op::Diff(diff) => diff.lower.into_iter().chain([diff.upper]).collect(),
        }
    }

    /// A short name of the op's kind, for DOT and progress output.
    pub fn kind(&self) -> &'static str {
        match &self.op {
            Op::Source(_) => "source",
            Op::Exec(_) => "exec",
            Op::File(_) => "file",
            Op::Merge(_) => "merge",
            Op::Diff(_) => "diff",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(text: &str) -> Platform {
        Platform::parse(text).expect("platform")
    }

    #[test]
    fn platforms_match_as_containerd_does() {
        let actual = |os: &str, architecture: &str, variant: Option<&str>| Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        };
        assert!(platform("linux/amd64").matches(&actual("linux", "amd64", None)));
        assert!(platform("linux/amd64").matches(&actual("linux", "x86_64", None)), "aliases are normalized");
        assert!(!platform("linux/s390x").matches(&actual("linux", "amd64", None)));
        assert!(!platform("linux/amd64").matches(&actual("windows", "amd64", None)));
        assert!(platform("linux/arm64/v8").matches(&actual("linux", "arm64", None)), "arm64 is v8 by default");
        assert!(platform("linux/arm").matches(&actual("linux", "arm", Some("v6"))), "no variant asked: any");
        assert!(!platform("linux/arm/v7").matches(&actual("linux", "arm", None)));
        assert!(!platform("linux/arm/v7").matches(&actual("linux", "arm", Some("v6"))));
    }
}
