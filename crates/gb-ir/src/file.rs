//! File ops: mkdir, mkfile, rm and copy, applied in order to a base file system.

use serde::{Deserialize, Serialize};

/// Applies `actions` in order to the input `base` (or to scratch) and outputs the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOp {
    /// Index into the op's inputs of the file system changed; absent means scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<u32>,
    /// The actions, applied in order.
    pub actions: Vec<FileAction>,
}

impl FileOp {
    /// Every input index the op refers to.
    pub fn referenced_input_indexes(&self) -> Vec<u32> {
        let copies = self.actions.iter().filter_map(|action| match action {
            FileAction::Copy(copy) => Some(copy.source),
            _ => None,
        });
        self.base.into_iter().chain(copies).collect()
    }
}

/// One file action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// Make a directory.
    Mkdir(MkdirAction),
    /// Write a file.
    Mkfile(MkfileAction),
    /// Remove a path.
    Rm(RmAction),
    /// Copy from an input.
    Copy(CopyAction),
}

/// A user or group, by number or by name (resolved in the destination's `/etc/passwd` or
/// `/etc/group`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdOrName {
    /// A numeric id.
    Id(u32),
    /// A name.
    Name(String),
}

/// The owner given to created files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Chown {
    /// The user.
    pub user: IdOrName,
    /// The group; the user's primary group when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IdOrName>,
}

/// Makes a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MkdirAction {
    /// Absolute path of the directory.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
    /// Create missing parents too (`mkdir -p`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub make_parents: bool,
    /// Owner of what is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Chown>,
    /// The access and modification time (seconds since the Unix epoch) of every directory it
    /// creates; absent, the time of creation (BuildKit's `WithCreatedTime`, SOURCE_DATE_EPOCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// Writes a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MkfileAction {
    /// Absolute path of the file.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
    /// Its content.
    pub data: String,
    /// Its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Chown>,
}

/// Removes a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmAction {
    /// Absolute path removed (recursively).
    pub path: String,
    /// No error when nothing is there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_not_found: bool,
    /// `path` may hold wildcards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_wildcard: bool,
}

/// Copies paths from an input into the file system being changed, with Docker's `COPY` rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyAction {
    /// Index into the op's inputs of the file system copied from.
    pub source: u32,
    /// Path in the source, relative to its root; may hold wildcards when `allow_wildcard`.
    pub src: String,
    /// Absolute destination; a trailing `/` means "into this directory".
    pub dest: String,
    /// Owner given to copied files; kept from the source when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Chown>,
    /// Mode given to copied files: octal digits or a symbolic mode (`u+x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chmod: Option<String>,
    /// Follow a symlink named by `src` itself (links below it are copied as links).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow_symlinks: bool,
    /// When `src` is a directory, copy its contents rather than the directory itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dir_copy_contents: bool,
    /// Create missing parent directories of `dest`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_dest_path: bool,
    /// `src` may hold wildcards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_wildcard: bool,
    /// A wildcard matching nothing is not an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty_wildcard: bool,
    /// Extract `src` when it is a local tar archive (gzip, bzip2, xz, zstd), as `ADD` does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attempt_unpack: bool,
    /// Keep the source's parent directories below the copy root (`COPY --parents`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parents: bool,
    /// Only paths below `src` matching these patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Paths below `src` matching these Docker patterns are not copied (`--exclude`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl CopyAction {
    /// A copy with Docker's `COPY` defaults: contents of directories, wildcards allowed, parents
    /// of the destination created.
    pub fn docker(source: u32, src: impl Into<String>, dest: impl Into<String>) -> Self {
        Self {
            source,
            src: src.into(),
            dest: dest.into(),
            owner: None,
            chmod: None,
            follow_symlinks: true,
            dir_copy_contents: true,
            create_dest_path: true,
            allow_wildcard: true,
            allow_empty_wildcard: true,
            attempt_unpack: false,
            parents: false,
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}
