//! Users and groups looked up in a root file system's `/etc/passwd` and `/etc/group`, as runc and BuildKit do.

use std::io;
use std::path::Path;

use gb_ir::{Chown, IdOrName};

use crate::error::{FileOpError, Result};
use crate::paths::resolve_in_root;

/// A process identity resolved in a root file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary groups: those listing the user by name in `/etc/group`, when the group was
    /// not given explicitly.
    pub additional_gids: Vec<u32>,
    /// The home directory from `/etc/passwd`, when the user has an entry.
    pub home: Option<String>,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One `/etc/group` line.
#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `user[:group]` (names or numbers) in a root file system's `/etc/passwd` and
/// `/etc/group`, as runc (moby/sys/user's `GetExecUser`) does: a numeric user needs no passwd
/// entry (gid 0 unless given); a name that is not found is an error; supplementary groups come
/// from `/etc/group` when no group is given; an empty string is root.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, FileOpError> {
    let mut fields = user.split(':');
    let user_arg = fields.next().unwrap_or_default();
    let group_arg = fields.next().unwrap_or_default();
    let uid_arg = user_arg.parse::<u32>().ok();
    let gid_arg = group_arg.parse::<u32>().ok();

    let passwd = read_passwd(rootfs)?;
    let matched = passwd.iter().find(|entry| match uid_arg {
        // A numeric user is always a uid, even when a user has that number as a name.
        Some(uid) => entry.uid == uid,
        None if user_arg.is_empty() => entry.uid == 0,
        None => entry.name == user_arg,
    });
    let mut resolved = ResolvedUser { uid: 0, gid: 0, additional_gids: Vec::new(), home: None };
    match (matched, uid_arg) {
        (Some(entry), _) => {
            resolved.uid = entry.uid;
            resolved.gid = entry.gid;
            resolved.home = Some(entry.home.clone());
        }
        (None, Some(uid)) => resolved.uid = uid,
        (None, None) if user_arg.is_empty() => {}
        (None, None) => return Err(FileOpError::UnknownUser { name: user_arg.to_owned() }),
    }

    if !group_arg.is_empty() {
        let groups = read_group(rootfs)?;
        let found = groups.iter().find(|group| match gid_arg {
            Some(gid) => group.gid == gid,
            None => group.name == group_arg,
        });
        resolved.gid = match (found, gid_arg) {
            (Some(group), _) => group.gid,
            (None, Some(gid)) => gid,
            (None, None) => return Err(FileOpError::UnknownGroup { name: group_arg.to_owned() }),
        };
    } else if let Some(entry) = matched {
        // Supplementary groups only make sense when the group is implicit (runc's rule).
        let groups = read_group(rootfs)?;
        resolved.additional_gids =
            groups.iter().filter(|group| group.members.contains(&entry.name)).map(|group| group.gid).collect();
    }
    // The primary group comes first among the supplementary ones, as BuildKit gives them (seen
    // side by side with BuildKit v0.32.2 on busybox: `id` shows `groups=0(root)` for root,
    // `groups=1001(u1),2002(g2)` for `USER u1`, `groups=2002(g2)` for `USER u1:g2`).
    resolved.additional_gids.retain(|gid| *gid != resolved.gid);
    resolved.additional_gids.insert(0, resolved.gid);
    Ok(resolved)
}

/// The uid and gid a file action's `owner` names, as BuildKit's file backend reads them: a
/// user name takes its passwd entry's uid and primary gid, a numeric user without group gets
/// the same number as gid (Docker's documented `--chown=10` rule), an explicit group replaces
/// the gid. Names are looked up in `rootfs`; one that is missing is an error.
pub(crate) fn resolve_owner(rootfs: &Path, owner: &Chown) -> Result<(u32, u32)> {
    let (uid, mut gid) = match &owner.user {
        IdOrName::Id(id) => (*id, *id),
        IdOrName::Name(name) => {
            let passwd = read_passwd(rootfs)?;
            let entry = passwd
                .iter()
                .find(|entry| entry.name == *name)
                .ok_or_else(|| FileOpError::UnknownUser { name: name.clone() })?;
            (entry.uid, entry.gid)
        }
    };
    match &owner.group {
        None => {}
        Some(IdOrName::Id(id)) => gid = *id,
        Some(IdOrName::Name(name)) => {
            let groups = read_group(rootfs)?;
            gid = groups
                .iter()
                .find(|group| group.name == *name)
                .ok_or_else(|| FileOpError::UnknownGroup { name: name.clone() })?
                .gid;
        }
    }
    Ok((uid, gid))
}

fn read_passwd(rootfs: &Path) -> Result<Vec<PasswdEntry>> {
    Ok(read_db(rootfs, "/etc/passwd")?
        .lines()
        .filter_map(|line| {
            let fields = split_line(line)?;
            Some(PasswdEntry {
                name: fields.first()?.to_string(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
                home: fields.get(5).copied().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

fn read_group(rootfs: &Path) -> Result<Vec<GroupEntry>> {
    Ok(read_db(rootfs, "/etc/group")?
        .lines()
        .filter_map(|line| {
            let fields = split_line(line)?;
            Some(GroupEntry {
                name: fields.first()?.to_string(),
                gid: fields.get(2)?.parse().ok()?,
                members: fields
                    .get(3)
                    .map(|list| list.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// The fields of a database line; `None` for blank lines and comments. Lines whose ids do not
/// parse are skipped by the callers rather than read as id 0 (which would make garbage root).
fn split_line(line: &str) -> Option<Vec<&str>> {
    let line = line.trim();
    (!line.is_empty() && !line.starts_with('#')).then(|| line.split(':').collect())
}

/// The text of a database file in `rootfs`; a missing one reads as empty, as runc treats it.
fn read_db(rootfs: &Path, path: &str) -> Result<String> {
    let host = resolve_in_root(rootfs, path, true)?;
    match std::fs::read(&host) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(err) if matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(String::new()),
        Err(err) => Err(FileOpError::io("read", host, err)),
    }
}
