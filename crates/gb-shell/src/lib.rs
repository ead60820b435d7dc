//! Docker's shell-word expansion (`$V`, `${V:-w}`, `${V#p}`, `${V/p/r}`, quotes, escapes), compatible with BuildKit's `frontend/dockerfile/shell` lexer.
//!
//! ```
//! use std::collections::BTreeMap;
//! use gb_shell::Lexer;
//!
//! let env = BTreeMap::from([("VERSION".to_owned(), "1.2".to_owned())]);
//! let lexer = Lexer::new('\\');
//! let out = lexer.expand_word("app-${VERSION}-${ARCH:-amd64}.tar", &env).unwrap();
//! assert_eq!(out.value, "app-1.2-amd64.tar");
//! assert!(out.matched.contains("VERSION") && out.unmatched.contains("ARCH"));
//! ```
//!
//! **Invariants:** expansion never panics, on any input; it does no IO and
//! sees only the [`Env`] it is given; every error carries the byte offset
//! in the word of the construct that failed; a word expands to at most
//! [`MAX_WORD_BYTES`] (or its own length), so memory stays bounded, and its patterns take at
//! most [`MAX_MATCH_STEPS`] steps to match, so time stays bounded too.
//!
//! Where BuildKit's behaviour is an accident of its implementation rather
//! than a choice, this crate says so at the place it differs.

#![warn(missing_docs)]

mod env;
mod error;
mod expand;
mod lexer;
mod pattern;
mod split;

pub use env::Env;
pub use error::ExpandError;
pub use expand::{MAX_MATCH_STEPS, MAX_NESTING, MAX_WORD_BYTES};
pub use lexer::{Expansion, Lexer, WordsExpansion, escape_literal};
