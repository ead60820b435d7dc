//! Links the libraries Debian's static `librocksdb.a` needs, when the `rocksdb` crate links it
//! statically (`ROCKSDB_STATIC`, set in `.cargo/config.toml`), and links them (the C++ runtime
//! included) from their static archives where the system has them: every graphbuild command,
//! the server's thin clients above all, then starts without the dynamic loader mapping
//! libstdc++ and resolving its symbols (most of a client's 4 ms start, perf).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What `librocksdb.a` needs besides the C++ runtime.
const ROCKSDB_NEEDS: [&str; 6] = ["snappy", "lz4", "zstd", "bz2", "z", "gflags"];

fn main() {
    println!("cargo:rerun-if-env-changed=ROCKSDB_STATIC");
    println!("cargo:rerun-if-env-changed=GRAPHBUILD_DYNAMIC_LIBS");
    if std::env::var_os("ROCKSDB_STATIC").is_none() {
        return;
    }
    for lib in ROCKSDB_NEEDS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    if std::env::var_os("GRAPHBUILD_DYNAMIC_LIBS").is_some() {
        return;
    }
    // `-lNAME` takes the first directory holding libNAME.so or libNAME.a; a directory of our
    // own, searched first, holding only the archives turns these `-l`s static. An archive only
    // adds the members something still needs, so a crate that brings its own copy (zstd-sys)
    // keeps it. Where an archive is missing, the shared library is used as before.
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else { return };
    let dir = out_dir.join("static-libs");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let archives = ROCKSDB_NEEDS.iter().map(|lib| format!("lib{lib}.a")).chain(["libstdc++.a".to_owned()]);
    for archive in archives {
        if let Some(found) = find_archive(&archive) {
            let _ = std::os::unix::fs::symlink(&found, dir.join(&archive));
        }
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}

/// Where the compiler finds `archive`, if it exists: the C++ compiler's answer, else the C
/// compiler's (gcc searches the same library directories; a machine may have no g++, since
/// nothing here compiles C++).
fn find_archive(archive: &str) -> Option<PathBuf> {
    let compilers = [std::env::var("CXX").ok(), Some("c++".to_owned()), Some("cc".to_owned())];
    compilers.into_iter().flatten().find_map(|compiler| {
        let output = Command::new(compiler).arg(format!("-print-file-name={archive}")).output().ok()?;
        let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
        // A compiler echoes the bare name back when it finds nothing.
        (path.is_absolute() && Path::new(&path).is_file()).then_some(path)
    })
}
