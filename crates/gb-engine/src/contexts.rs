//! Build contexts that are not a directory on the client: a tarball (on standard input, as
//! `docker build - < context.tar`, or at an http(s) URL) unpacked into a private directory of
//! the state root with the same confined extraction as `ADD` (no entry lands outside it), or a
//! git repository checked out there (`https://host/repo.git#ref:subdir`).

use std::path::{Path, PathBuf};

use crate::EngineError;

/// A context unpacked from an archive (or an empty one, for a Dockerfile given alone); removed
/// when dropped.
pub struct UnpackedContext {
    dir: PathBuf,
    context: PathBuf,
}

impl UnpackedContext {
    /// An empty context, for a Dockerfile read from standard input (`docker build - <
    /// Dockerfile`): the Dockerfile is written beside it, not in it, so `COPY .` copies nothing.
    pub fn with_dockerfile_only(tmp: &Path, dockerfile: &str) -> Result<(Self, PathBuf), EngineError> {
        let unpacked = Self::new(tmp)?;
        let path = unpacked.dir.join("Dockerfile");
        std::fs::write(&path, dockerfile).map_err(io("writing the Dockerfile from standard input"))?;
        Ok((unpacked, path))
    }

    /// The context a tar archive holds (plain, gzip, bzip2, xz or zstd, detected by content).
    pub fn from_archive(tmp: &Path, archive: &[u8]) -> Result<Self, EngineError> {
        let unpacked = Self::new(tmp)?;
        let source = unpacked.source_dir()?;
        std::fs::write(source.join(ARCHIVE), archive).map_err(io("writing the context archive"))?;
        unpacked.unpack(&source, "the build context on standard input")?;
        Ok(unpacked)
    }

    /// The context at a URL, as `docker build URL` reads it: a git repository when the URL is
    /// one (`git@…`, `git://…`, or http(s) ending in `.git`, with an optional `#ref[:subdir]`),
    /// otherwise a tarball (or a plain Dockerfile, as docker takes one) downloaded over http(s).
    /// Returns the context and, for a downloaded Dockerfile, its path.
    pub fn from_url(tmp: &Path, url: &str) -> Result<(Self, Option<PathBuf>), EngineError> {
        let unpacked = Self::new(tmp)?;
        if let Some((remote, reference, subdir)) = git_context(url) {
            gb_fetch::fetch_git(&remote, reference.as_deref(), subdir.as_deref(), false, None, &unpacked.context)
                .map_err(fetch_failed(url))?;
            return Ok((unpacked, None));
        }
        let source = unpacked.source_dir()?;
        let fetched = gb_fetch::fetch_http(url, None, Some(ARCHIVE), &source).map_err(fetch_failed(url))?;
        if starts_like_an_archive(&fetched.path)? {
            unpacked.unpack(&source, &format!("the build context {}", gb_fetch::redact_credentials(url)))?;
            return Ok((unpacked, None));
        }
        let dockerfile = unpacked.dir.join("Dockerfile");
        std::fs::rename(&fetched.path, &dockerfile).map_err(io("keeping the downloaded Dockerfile"))?;
        Ok((unpacked, Some(dockerfile)))
    }

    /// A named build context at a URL (`--build-context NAME=URL`), as BuildKit's
    /// `NamedContext` loads one: a git repository checked out, or else the downloaded file
    /// itself, named `context`, alone in the directory (not unpacked).
    pub fn named_from_url(tmp: &Path, url: &str) -> Result<Self, EngineError> {
        if git_context(url).is_some() {
            return Self::from_url(tmp, url).map(|(unpacked, _)| unpacked);
        }
        let unpacked = Self::new(tmp)?;
        gb_fetch::fetch_http(url, None, Some("context"), &unpacked.context).map_err(fetch_failed(url))?;
        Ok(unpacked)
    }

    /// A new directory beside the context, for an archive before it is unpacked.
    fn source_dir(&self) -> Result<PathBuf, EngineError> {
        let source = self.dir.join("source");
        std::fs::create_dir(&source).map_err(io("making the context archive's directory"))?;
        Ok(source)
    }

    /// Unpacks `source`'s archive into the context (gb-ops' confined extraction, as ADD), then
    /// removes it; `what` names the context in errors.
    fn unpack(&self, source: &Path, what: &str) -> Result<(), EngineError> {
        let mut unpack = gb_ir::CopyAction::docker(0, format!("/{ARCHIVE}"), "/");
        unpack.attempt_unpack = true;
        let op = gb_ir::FileOp { base: None, actions: vec![gb_ir::FileAction::Copy(unpack)] };
        gb_ops::apply_file_op(&self.context, &op, &[Some(gb_ops::CopySource::new(source))])
            .map_err(|e| EngineError::Invalid(format!("{what}: {e}")))?;
        std::fs::remove_dir_all(source).map_err(io("removing the context archive"))?;
        // An archive that was none is copied as the file it is: not a context.
        if self.context.join(ARCHIVE).is_file() {
            return Err(EngineError::Invalid(format!("{what} is neither a tar archive nor a Dockerfile")));
        }
        Ok(())
    }

    /// The context directory.
    pub fn path(&self) -> &Path {
        &self.context
    }

    fn new(tmp: &Path) -> Result<Self, EngineError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir = tmp.join(format!("context-{}", gb_cache::LayerId::random()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)
            .map_err(io("making a directory for the build context"))?;
        let context = dir.join("context");
        std::fs::create_dir(&context).map_err(io("making a directory for the build context"))?;
        Ok(Self { dir, context })
    }
}

impl Drop for UnpackedContext {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The name an archive context is unpacked from.
const ARCHIVE: &str = "context.tar";

/// Whether the file at `path` starts like a tar archive, plain or compressed.
fn starts_like_an_archive(path: &Path) -> Result<bool, EngineError> {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .and_then(|file| file.take(512).read_to_end(&mut head))
        .map_err(io("reading the downloaded context"))?;
    Ok(is_archive(&head))
}

/// An error for a failed download or checkout of the context at `url`.
fn fetch_failed(url: &str) -> impl FnOnce(gb_fetch::FetchError) -> EngineError {
    let url = gb_fetch::redact_credentials(url);
    move |source| EngineError::Fetch { url, source: Box::new(source) }
}

/// Whether `bytes` start like a tar archive, plain or compressed, as `docker build -` tells a
/// context archive from a Dockerfile.
pub fn is_archive(bytes: &[u8]) -> bool {
    const MAGIC: [&[u8]; 4] = [b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"];
    MAGIC.iter().any(|magic| bytes.starts_with(magic)) || bytes.get(257..262) == Some(b"ustar")
}

/// The time SOURCE_DATE_EPOCH takes from the file at an http(s) `url`, as BuildKit's source
/// metadata gives it: its Last-Modified, else the newest regular file of the (compressed) tar
/// archive it is, else none. The file is downloaded (and checked against `checksum`) into a
/// directory under `tmp` that is removed after.
pub fn http_source_time(tmp: &Path, url: &str, checksum: Option<&str>) -> Result<Option<i64>, EngineError> {
    use std::os::unix::fs::MetadataExt as _;
    let checksum = checksum
        .map(|text| {
            text.parse::<gb_ir::Sha256Digest>()
                .map_err(|_| EngineError::Invalid(format!("unsupported checksum {text:?}")))
        })
        .transpose()?;
    let work = UnpackedContext::new(tmp)?;
    let source = work.source_dir()?;
    let fetched = gb_fetch::fetch_http(url, checksum.as_ref(), Some(ARCHIVE), &source).map_err(fetch_failed(url))?;
    let modified = std::fs::metadata(&fetched.path).map_err(io("reading the downloaded file"))?.mtime();
    // Without Last-Modified the download's time is the epoch's start.
    if modified != 0 {
        return Ok(Some(modified));
    }
    if !starts_like_an_archive(&fetched.path)? {
        return Ok(None);
    }
    work.unpack(&source, &gb_fetch::redact_credentials(url))?;
    newest_file_time(work.path())
}

/// The time SOURCE_DATE_EPOCH takes from a git repository (`URL#ref:subdir`, as ADD names one):
/// the committer time of the commit the ref resolves to, checked out under `tmp` and removed.
pub fn git_source_time(tmp: &Path, url: &str) -> Result<Option<i64>, EngineError> {
    // ADD also takes `file://…/repo.git` and other URLs a context would not be.
    let (remote, reference, _) = git_context(url).unwrap_or_else(|| {
        let (remote, fragment) = url.split_once('#').unwrap_or((url, ""));
        let reference = fragment.split(':').next().filter(|r| !r.is_empty()).map(str::to_owned);
        (remote.to_owned(), reference, None)
    });
    let work = UnpackedContext::new(tmp)?;
    gb_fetch::fetch_git(&remote, reference.as_deref(), None, true, None, work.path()).map_err(fetch_failed(url))?;
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(work.path())
        .args(["log", "-1", "--format=%ct", "HEAD"])
        .output()
        .map_err(io("running git log"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().parse::<i64>() {
        Ok(seconds) if output.status.success() => Ok(Some(seconds)),
        _ => Err(EngineError::Invalid(format!(
            "reading the commit time of {}: {}",
            gb_fetch::redact_credentials(url),
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
    }
}

/// The newest modification time of the regular files under `dir`, none when it has none.
fn newest_file_time(dir: &Path) -> Result<Option<i64>, EngineError> {
    use std::os::unix::fs::MetadataExt as _;
    let mut newest = None;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).map_err(io("reading the unpacked archive"))? {
            let entry = entry.map_err(io("reading the unpacked archive"))?;
            let meta = entry.metadata().map_err(io("reading the unpacked archive"))?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                newest = newest.max(Some(meta.mtime()));
            }
        }
    }
    Ok(newest)
}

/// Whether a URL names a git repository, as BuildKit's `DetectGitContext` tells: `git@` and
/// `git://` URLs, and http(s) URLs whose path ends in `.git`; then the remote, the ref and the
/// subdirectory of its `#ref:subdir` fragment.
pub fn git_context(url: &str) -> Option<(String, Option<String>, Option<String>)> {
    let (remote, fragment) = match url.split_once('#') {
        Some((remote, fragment)) => (remote, Some(fragment)),
        None => (url, None),
    };
    let is_http = remote.starts_with("https://") || remote.starts_with("http://");
    let is_git = remote.starts_with("git@") || remote.starts_with("git://") || (is_http && remote.ends_with(".git"));
    if !is_git {
        return None;
    }
    let (reference, subdir) = match fragment.map(|f| f.split_once(':').unwrap_or((f, ""))) {
        Some((reference, subdir)) => {
            let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
            (some(reference), some(subdir))
        }
        None => (None, None),
    };
    Some((remote.to_owned(), reference, subdir))
}

fn io(action: &str) -> impl FnOnce(std::io::Error) -> EngineError {
    let action = action.to_owned();
    move |source| EngineError::Io { action, source }
}
