//! `--chmod` values: octal modes and chmod(1) symbolic modes (`u+x,go-w`, `a=rX`), applied per entry.

use crate::error::{FileOpError, Result};

/// The permission and special bits a mode may set.
const ALL_BITS: u32 = 0o7777;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chmod {
    /// Octal: replaces the permission and special bits.
    Octal(u32),
    /// Symbolic clauses, applied left to right to each entry's own mode.
    Symbolic(Vec<Clause>),
}

/// One comma-separated clause: who it affects and its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    /// The bits the clause may touch: `u` is 0o4700, `g` 0o2070, `o` 0o1007; none written means
    /// all, without a umask (BuildKit parses with a zero umask).
    who: u32,
    ops: Vec<(Op, Perms)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Set,
}

/// The right-hand side of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perms {
    /// Letters from `rwxXst`.
    Letters { bits: u32, exec_if_any: bool },
    /// The current permissions of a class (`u`, `g` or `o`), as a shift of its rwx triple.
    CopyOf(u32),
}

impl Chmod {
    /// Parses octal digits (at most 0o7777) or a symbolic mode as chmod(1) reads it:
    /// `[ugoa]*([-+=]([rwxXst]*|[ugo]))+`, clauses separated by commas.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let invalid = || FileOpError::InvalidChmod { mode: text.to_owned() };
        if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            let mode = u32::from_str_radix(text, 8).map_err(|_| invalid())?;
            return if mode <= ALL_BITS { Ok(Self::Octal(mode)) } else { Err(invalid()) };
        }
        let clauses = text.split(',').map(parse_clause).collect::<Option<Vec<_>>>().ok_or_else(invalid)?;
        Ok(Self::Symbolic(clauses))
    }

    /// The mode an entry whose current mode is `mode` gets. `is_dir` matters for `X`.
    pub(crate) fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Self::Octal(bits) => (mode & !ALL_BITS) | bits,
            Self::Symbolic(clauses) => clauses.iter().fold(mode, |mode, clause| clause.apply(mode, is_dir)),
        }
    }
}

fn parse_clause(text: &str) -> Option<Clause> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut who = 0;
    while let Some(&b) = bytes.get(pos) {
        who |= match b {
            b'u' => 0o4700,
            b'g' => 0o2070,
            b'o' => 0o1007,
            b'a' => ALL_BITS,
            _ => break,
        };
        pos += 1;
    }
    if who == 0 {
        who = ALL_BITS;
    }
    let mut ops = Vec::new();
    while let Some(&b) = bytes.get(pos) {
        let op = match b {
            b'+' => Op::Add,
            b'-' => Op::Remove,
            b'=' => Op::Set,
            _ => return None,
        };
        pos += 1;
        let perms = match bytes.get(pos) {
            Some(b'u') => Some(6),
            Some(b'g') => Some(3),
            Some(b'o') => Some(0),
            _ => None,
        };
        if let Some(shift) = perms {
            pos += 1;
            ops.push((op, Perms::CopyOf(shift)));
            continue;
        }
        let mut bits = 0;
        let mut exec_if_any = false;
        while let Some(&b) = bytes.get(pos) {
            match b {
                b'r' => bits |= 0o444,
                b'w' => bits |= 0o222,
                b'x' => bits |= 0o111,
                b'X' => exec_if_any = true,
                b's' => bits |= 0o6000,
                b't' => bits |= 0o1000,
                _ => break,
            }
            pos += 1;
        }
        ops.push((op, Perms::Letters { bits, exec_if_any }));
    }
    (!ops.is_empty()).then_some(Clause { who, ops })
}

impl Clause {
    fn apply(&self, mut mode: u32, is_dir: bool) -> u32 {
        for &(op, perms) in &self.ops {
            let bits = match perms {
                Perms::Letters { bits, exec_if_any } => {
                    // `X` looks at the mode as changed so far, as chmod(1) does.
                    let exec = exec_if_any && (is_dir || mode & 0o111 != 0);
                    bits | if exec { 0o111 } else { 0 }
                }
                Perms::CopyOf(shift) => ((mode >> shift) & 0o7) * 0o111,
            } & self.who;
            mode = match op {
                Op::Add => mode | bits,
                Op::Remove => mode & !bits,
                Op::Set => (mode & !self.who) | bits,
            };
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::Chmod;

    #[test]
    fn modes_apply_like_chmod() {
        // (mode text, starting mode, is a directory, expected mode)
        let cases = [
            ("755", 0o644, false, 0o755),
            ("0640", 0o100777, false, 0o100640),
            ("4755", 0o644, false, 0o4755),
            ("u+x", 0o644, false, 0o744),
            ("go-w", 0o666, false, 0o644),
            ("u+x,go-w", 0o666, false, 0o744),
            ("a=rX", 0o640, false, 0o444),
            ("a=rX", 0o740, false, 0o555),
            ("a=rX", 0o600, true, 0o555),
            ("+x", 0o644, false, 0o755),
            ("=r", 0o777, false, 0o444),
            ("u=rwx,g=rx,o=", 0o000, false, 0o750),
            ("g=u", 0o640, false, 0o660),
            ("o=g-w", 0o660, false, 0o664),
            ("u+s", 0o755, false, 0o4755),
            ("g+s", 0o755, true, 0o2755),
            ("+t", 0o777, true, 0o1777),
            ("u-x+w", 0o500, false, 0o600),
        ];
        for (text, start, is_dir, want) in cases {
            let chmod = Chmod::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
            assert_eq!(chmod.apply(start, is_dir), want, "{text} on {start:o}: got {:o}", chmod.apply(start, is_dir));
        }
    }

    #[test]
    fn bad_modes_are_rejected() {
        for text in ["", "8", "17777", "u", "u+q", "z+x", "u+x,", ",u+x", "rwx"] {
            assert!(Chmod::parse(text).is_err(), "{text:?} should be rejected");
        }
    }
}
