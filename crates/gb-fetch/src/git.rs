//! `ADD <git url>`: checkouts of a remote at a ref with the `git` CLI, and resolving a ref to the
//! commit it names (for cache keys).

mod checkout;
mod command;
mod refs;

pub use checkout::fetch_git;
pub use refs::resolve_git_ref;
