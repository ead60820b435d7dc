//! Docker's path patterns: `.dockerignore` files and the `--exclude`/include patterns of a context source.
//!
//! This is graphbuild's equivalent of `moby/patternmatcher` and its `ignorefile.ReadAll`. It
//! follows Docker's implementation, not gitignore: `*` and `?` never cross `/`, a pattern is
//! anchored at the context root, `**` matches any number of directories (including none), a
//! pattern that matches a directory excludes everything below it, and the last matching pattern
//! wins, with `!` exceptions re-including what earlier patterns excluded.
//!
//! Paths given to the matcher are relative to the context root, `/`-separated and already
//! cleaned (`a/b`, never `./a/b`, `/a/b` or `a//b/`). The matcher cleans them again defensively,
//! so those spellings mean the same path; the root itself (`""`, `.`, `/`) is never excluded.
//!
//! Where Docker's regexp translation leaks regexp syntax that `filepath.Match` (which Docker
//! documents as the rule) does not have, this crate follows `filepath.Match`: `^` outside a
//! character class and `\` before a letter are literal, `*` and `?` inside `[...]` are literal
//! class members, and `**` also crosses names holding a newline. Everything else, including the
//! literal-prefix and literal-suffix shortcuts (`**foo` matches `barfoo`), matches Docker.

mod clean;
mod dockerignore;
mod error;
mod glob;
mod matcher;

pub use clean::go_clean;
pub use dockerignore::parse_dockerignore;
pub use error::{PatternError, SyntaxProblem};
pub use matcher::{MatchInfo, PatternMatcher};
