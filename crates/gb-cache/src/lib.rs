//! The persistent store: RocksDB tables for cache results, the per-file content index and images, and the content-addressed blob store.
