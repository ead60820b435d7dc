//! A container's output log, `container.log`: one JSON object per line of output, in docker's
//! `json-file` format (`{"log":"text\n","stream":"stdout","time":"2026-12-04T06:00:00.123456789Z"}`),
//! so `logs` can replay the streams apart, follow them and take the last lines.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::ContainerError;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output (and a terminal's output).
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The text, with its newline (the last piece of a stream may lack it).
    pub log: String,
    /// Its stream.
    pub stream: LogStream,
    /// When it was written, RFC 3339 with nanoseconds.
    pub time: String,
}

/// Appends a run's output to the log, a line per entry: each stream's unfinished line waits for
/// its newline (or the run's end).
pub(crate) struct LogWriter {
    inner: Mutex<Pending>,
}

struct Pending {
    file: File,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LogWriter {
    /// Opens `path` for appending (a restarted container's log goes on).
    pub(crate) fn open(path: &Path) -> Result<Self, ContainerError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(ContainerError::io("opening", path))?;
        Ok(Self { inner: Mutex::new(Pending { file, stdout: Vec::new(), stderr: Vec::new() }) })
    }

    /// Takes a chunk of a stream's output.
    pub(crate) fn write(&self, stream: LogStream, bytes: &[u8]) {
        let mut pending = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Pending { file, stdout, stderr } = &mut *pending;
        let buffer = match stream {
            LogStream::Stdout => stdout,
            LogStream::Stderr => stderr,
        };
        buffer.extend_from_slice(bytes);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            append(file, stream, &line);
        }
    }

    /// Writes what is left of each stream (its last line without a newline).
    pub(crate) fn finish(&self) {
        let mut pending = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Pending { file, stdout, stderr } = &mut *pending;
        for (stream, buffer) in [(LogStream::Stdout, stdout), (LogStream::Stderr, stderr)] {
            if !buffer.is_empty() {
                let line = std::mem::take(buffer);
                append(file, stream, &line);
            }
        }
    }
}

/// One entry, written in one `write` (an append is atomic for a reader following the file).
fn append(file: &mut File, stream: LogStream, line: &[u8]) {
    let entry = LogEntry { log: String::from_utf8_lossy(line).into_owned(), stream, time: now_rfc3339_nanos() };
    if let Ok(mut json) = serde_json::to_vec(&entry) {
        json.push(b'\n');
        // A full disk loses log lines, not the container.
        let _ = file.write_all(&json);
    }
}

/// Now, RFC 3339 in UTC with nanoseconds, as docker's log times.
fn now_rfc3339_nanos() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = gb_export::rfc3339(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    match seconds.strip_suffix('Z') {
        Some(base) => format!("{base}.{:09}Z", now.subsec_nanos()),
        None => seconds,
    }
}

/// The entries of a log from byte `offset` on, and the offset after the last whole line read
/// (for following it). A missing log has none.
pub fn read_log(path: &Path, offset: u64) -> Result<(Vec<LogEntry>, u64), ContainerError> {
    let bytes = match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        other => other.map_err(ContainerError::io("reading", path))?,
    };
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    let rest = &bytes[start..];
    // A line still being appended is read next time.
    let whole = rest.iter().rposition(|b| *b == b'\n').map_or(0, |end| end + 1);
    let entries = rest[..whole]
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect();
    Ok((entries, offset + whole as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_logged_whole_and_streams_apart() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("container.log");
        let writer = LogWriter::open(&path).expect("open");
        writer.write(LogStream::Stdout, b"hel");
        writer.write(LogStream::Stderr, b"oops\n");
        writer.write(LogStream::Stdout, b"lo\nwor");
        writer.write(LogStream::Stdout, b"ld");
        writer.finish();
        let (entries, end) = read_log(&path, 0).expect("read");
        let lines: Vec<(LogStream, &str)> = entries.iter().map(|e| (e.stream, e.log.as_str())).collect();
        assert_eq!(
            lines,
            [(LogStream::Stderr, "oops\n"), (LogStream::Stdout, "hello\n"), (LogStream::Stdout, "world")]
        );
        assert!(entries[0].time.ends_with('Z') && entries[0].time.contains('.'), "{}", entries[0].time);
        let (more, same) = read_log(&path, end).expect("read");
        assert!(more.is_empty());
        assert_eq!(same, end);
    }
}
