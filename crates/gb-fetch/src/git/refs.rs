//! What a ref names on a remote, from `git ls-remote`, with git's own precedence between a tag and
//! a branch of the same name; and the checks on remotes and refs before they reach git's command
//! line.

use std::collections::HashMap;

use super::command::Git;
use crate::error::FetchError;
use crate::redact::redact_credentials;

/// What a ref resolves to on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// A ref the remote advertises.
    Named {
        /// Its full name (`refs/heads/main`, `refs/tags/v1`), or `HEAD` for a remote whose HEAD
        /// is detached.
        name: String,
        /// The object it points at: a commit, or an annotated tag.
        object: String,
        /// The commit an annotated tag points at.
        peeled: Option<String>,
    },
    /// A full commit hash, taken as it is (BuildKit does not look such refs up).
    Commit(String),
}

impl Target {
    /// The commit, as far as the remote's advertisement tells.
    pub(super) fn commit(&self) -> &str {
        match self {
            Self::Named { object, peeled, .. } => peeled.as_deref().unwrap_or(object),
            Self::Commit(commit) => commit,
        }
    }
}

/// The commit `reference` (a branch, tag or full commit hash; the default branch when `None`)
/// names on `remote`, with `git ls-remote`: a branch that moved resolves to its new commit, a
/// pinned commit is returned without asking the remote. Annotated tags resolve to their commit.
pub fn resolve_git_ref(remote: &str, reference: Option<&str>) -> Result<String, FetchError> {
    check_remote(remote)?;
    if let Some(reference) = reference {
        check_reference(reference)?;
    }
    let dir = std::env::temp_dir();
    let git = Git::new(&dir, remote);
    resolve(&git, remote, reference).map(|target| target.commit().to_owned())
}

/// Resolves `reference` on `remote` (a URL, or a remote name configured in `git`'s directory).
pub(super) fn resolve(git: &Git<'_>, remote: &str, reference: Option<&str>) -> Result<Target, FetchError> {
    let not_found = |reference: &str| FetchError::RefNotFound {
        remote: git.shown_remote().to_owned(),
        reference: reference.to_owned(),
    };
    let Some(reference) = reference else {
        let listing = git.run(&["ls-remote", "--symref", remote, "HEAD"])?;
        return default_branch(&listing).ok_or_else(|| not_found("HEAD"));
    };
    if is_commit_hash(reference) {
        return Ok(Target::Commit(reference.to_ascii_lowercase()));
    }
    let peeled_pattern = format!("{reference}^{{}}");
    let listing = git.run(&["ls-remote", remote, reference, &peeled_pattern])?;
    pick_ref(&listing, reference).ok_or_else(|| not_found(reference))
}

/// A full sha1 or sha256 commit hash.
pub(super) fn is_commit_hash(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Refuses remotes git would read as an option.
pub(super) fn check_remote(remote: &str) -> Result<(), FetchError> {
    let reason = if remote.is_empty() {
        "it is empty"
    } else if remote.starts_with('-') {
        "it starts with `-`"
    } else if remote.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(FetchError::InvalidGitSource { what: "remote", value: redact_credentials(remote), reason })
}

/// Refuses refs git would read as an option or a refspec, and names `git check-ref-format`
/// forbids.
pub(super) fn check_reference(reference: &str) -> Result<(), FetchError> {
    let reason = if reference.is_empty() {
        "it is empty"
    } else if reference.starts_with('-') {
        "it starts with `-`"
    } else if reference.contains("..") || reference.contains("@{") || reference.contains("//") {
        "it contains `..`, `@{` or `//`"
    } else if reference.chars().any(|c| c.is_control() || c.is_whitespace() || ":~^?*[\\".contains(c)) {
        "it contains whitespace, a control character or one of `:~^?*[\\`"
    } else {
        return Ok(());
    };
    Err(FetchError::InvalidGitSource { what: "ref", value: reference.to_owned(), reason })
}

/// The default branch from `ls-remote --symref <remote> HEAD`: HEAD's target and commit, or just
/// `HEAD` when the remote's HEAD is detached. `None` for an empty repository.
fn default_branch(listing: &str) -> Option<Target> {
    let mut symref = None;
    let mut object = None;
    for line in listing.lines() {
        let Some((left, "HEAD")) = line.split_once('\t') else { continue };
        match left.strip_prefix("ref: ") {
            Some(target) => symref = Some(target.to_owned()),
            None => object = Some(left.to_owned()),
        }
    }
    Some(Target::Named { name: symref.unwrap_or_else(|| "HEAD".to_owned()), object: object?, peeled: None })
}

/// The ref `reference` names among the lines of `ls-remote`, with the precedence git uses to
/// expand a short name (`git help revisions`): exact, `refs/`, tags, branches, remote branches.
fn pick_ref(listing: &str, reference: &str) -> Option<Target> {
    let refs: HashMap<&str, &str> =
        listing.lines().filter_map(|line| line.split_once('\t')).map(|(object, name)| (name, object)).collect();
    let candidates = [
        reference.to_owned(),
        format!("refs/{reference}"),
        format!("refs/tags/{reference}"),
        format!("refs/heads/{reference}"),
        format!("refs/remotes/{reference}"),
        format!("refs/remotes/{reference}/HEAD"),
    ];
    candidates.into_iter().find_map(|name| {
        let object = refs.get(name.as_str())?;
        let peeled = refs.get(format!("{name}^{{}}").as_str()).map(|peeled| (*peeled).to_owned());
        Some(Target::Named { object: (*object).to_owned(), peeled, name })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
1111111111111111111111111111111111111111\tHEAD
2222222222222222222222222222222222222222\trefs/heads/feature/v1
3333333333333333333333333333333333333333\trefs/heads/v1
4444444444444444444444444444444444444444\trefs/tags/v1
5555555555555555555555555555555555555555\trefs/tags/v1^{}
6666666666666666666666666666666666666666\trefs/heads/main
";

    fn named(name: &str, object: &str, peeled: Option<&str>) -> Target {
        Target::Named { name: name.to_owned(), object: object.to_owned(), peeled: peeled.map(str::to_owned) }
    }

    #[test]
    fn tags_win_over_branches_and_suffix_matches() {
        let v1 = pick_ref(LISTING, "v1");
        assert_eq!(v1, Some(named("refs/tags/v1", &"4".repeat(40), Some(&"5".repeat(40)))));
        assert_eq!(v1.as_ref().map(Target::commit), Some("5".repeat(40).as_str()));
        assert_eq!(pick_ref(LISTING, "heads/v1"), Some(named("refs/heads/v1", &"3".repeat(40), None)));
        assert_eq!(pick_ref(LISTING, "refs/heads/main"), Some(named("refs/heads/main", &"6".repeat(40), None)));
        assert_eq!(pick_ref(LISTING, "main"), Some(named("refs/heads/main", &"6".repeat(40), None)));
        assert_eq!(pick_ref(LISTING, "feature"), None);
    }

    #[test]
    fn default_branch_follows_the_symref() {
        let listing = "ref: refs/heads/trunk\tHEAD\n7777777777777777777777777777777777777777\tHEAD\n";
        assert_eq!(default_branch(listing), Some(named("refs/heads/trunk", &"7".repeat(40), None)));
        let detached = "7777777777777777777777777777777777777777\tHEAD\n";
        assert_eq!(default_branch(detached), Some(named("HEAD", &"7".repeat(40), None)));
        assert_eq!(default_branch(""), None);
    }

    #[test]
    fn refs_that_would_be_options_or_refspecs_are_refused() {
        for bad in ["", "--upload-pack=sh", "a:b", "a..b", "a b", "v1^{}", "x\n"] {
            assert!(check_reference(bad).is_err(), "{bad:?}");
        }
        for good in ["main", "v1.2.3", "feature/x", "refs/pull/1/head", &"a".repeat(40)] {
            assert!(check_reference(good).is_ok(), "{good:?}");
        }
        assert!(check_remote("--upload-pack=touch /tmp/x").is_err());
        let error = check_remote("https://u:secret@h/r\n").map(|()| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(error.contains("***@h") && !error.contains("secret"), "{error}");
    }
}
