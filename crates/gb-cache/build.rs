//! Links the libraries Debian's static `librocksdb.a` needs, when the `rocksdb` crate links it
//! statically (`ROCKSDB_STATIC`, set in `.cargo/config.toml`): every graphbuild command starts
//! without the dynamic loader resolving RocksDB's ten thousand C++ symbols (about 3 ms of each
//! command's start, most of a no-op rebuild's time as a server client).

fn main() {
    println!("cargo:rerun-if-env-changed=ROCKSDB_STATIC");
    if std::env::var_os("ROCKSDB_STATIC").is_some() {
        for lib in ["snappy", "lz4", "zstd", "bz2", "z", "gflags"] {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
}
