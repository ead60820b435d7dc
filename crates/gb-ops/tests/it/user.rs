//! `resolve_user`: runc's reading of `/etc/passwd` and `/etc/group`.

use gb_ops::{ResolvedUser, resolve_user};

use crate::support::write;

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
# a comment
app:x:1000:1000::/home/app:/bin/sh
other:x:1001:1001::/home/other:/bin/sh
";

const GROUP: &str = "\
root:x:0:
wheel:x:10:root
app:x:1000:
staff:x:50:app,other
audio:x:29:app
";

fn user(uid: u32, gid: u32, additional_gids: &[u32], home: Option<&str>) -> ResolvedUser {
    ResolvedUser { uid, gid, additional_gids: additional_gids.to_vec(), home: home.map(str::to_owned) }
}

#[test]
fn users_resolve_like_runc() {
    let root = tempfile::tempdir().expect("temp dir");
    write(root.path(), "etc/passwd", PASSWD);
    write(root.path(), "etc/group", GROUP);
    // The primary gid leads the supplementary ones, as BuildKit's `id` shows them.
    let cases: [(&str, Result<ResolvedUser, &str>); 11] = [
        ("", Ok(user(0, 0, &[0, 10], Some("/root")))),
        ("0", Ok(user(0, 0, &[0, 10], Some("/root")))),
        ("1000", Ok(user(1000, 1000, &[1000, 50, 29], Some("/home/app")))),
        ("2000", Ok(user(2000, 0, &[0], None))),
        ("1000:1000", Ok(user(1000, 1000, &[1000], Some("/home/app")))),
        ("app", Ok(user(1000, 1000, &[1000, 50, 29], Some("/home/app")))),
        ("app:staff", Ok(user(1000, 50, &[50], Some("/home/app")))),
        ("2000:77", Ok(user(2000, 77, &[77], None))),
        ("other:audio", Ok(user(1001, 29, &[29], Some("/home/other")))),
        ("nobody", Err("unable to find user \"nobody\"")),
        ("app:nogroup", Err("unable to find group \"nogroup\"")),
    ];
    for (spec, want) in cases {
        match (resolve_user(root.path(), spec), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{spec:?}"),
            (Err(err), Err(text)) => assert!(err.to_string().contains(text), "{spec:?}: {err}"),
            (got, want) => panic!("{spec:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn without_passwd_only_numbers_resolve() {
    let root = tempfile::tempdir().expect("temp dir");
    assert_eq!(resolve_user(root.path(), "").expect("root"), user(0, 0, &[0], None));
    assert_eq!(resolve_user(root.path(), "1000").expect("numeric"), user(1000, 0, &[0], None));
    assert_eq!(resolve_user(root.path(), "1000:5").expect("numeric pair"), user(1000, 5, &[5], None));
    assert!(resolve_user(root.path(), "app").is_err());
}
