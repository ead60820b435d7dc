//! The cache database: typed records over a [`KvStore`].

use std::fmt;
use std::fs;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CacheError;
use crate::ids::{CacheKey, ImageName, LayerId};
use crate::kv::{KvStore, KvWrite, Table};
use crate::records::{FileRecord, ImageRecord, LayerBlobRecord, LayerRecord, ResultRecord};
use crate::rocks::RocksStore;

/// The record layout this build reads and writes, kept in [`Table::Meta`]. Bump it when a record
/// changes in a way older code can't read; adding an optional field does not need a bump.
pub const SCHEMA_VERSION: u64 = 1;

const SCHEMA_KEY: &[u8] = b"schema-version";

/// The cache database: results by cache key, the per-file content index, images, and layers.
///
/// Records are JSON (readable with `ldb`, easy to evolve). Keys: cache keys as their 32 raw bytes,
/// file paths, image names and layer ids as UTF-8.
pub struct CacheDb {
    store: Box<dyn KvStore>,
    /// The file index's records this process read or wrote, by key: a server's no-op rebuild of
    /// a large context then stats its files and decodes nothing. Only the process that holds
    /// the root writes the index, so the copy never goes stale; it starts over past
    /// [`FILE_CACHE_LIMIT`] entries.
    file_cache: std::sync::Mutex<std::collections::HashMap<String, FileRecord>>,
    /// Held while an image is filed, so two names moving at once cannot both decide that an
    /// image they leave is still named by the other.
    image_writes: std::sync::Mutex<()>,
}

/// How many file records [`CacheDb`] keeps in memory (about 200 bytes each).
const FILE_CACHE_LIMIT: usize = 1 << 20;

impl fmt::Debug for CacheDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheDb").finish_non_exhaustive()
    }
}

impl CacheDb {
    /// Opens the RocksDB database at `root/db`, creating it (and `root`) if needed.
    ///
    /// Fails with [`CacheError::Locked`] while another handle has it open, and with
    /// [`CacheError::UnsupportedSchema`] if it was written with another record layout.
    pub fn open(root: &Path) -> Result<Self, CacheError> {
        let dir = root.join("db");
        fs::create_dir_all(root).map_err(CacheError::io("create", root))?;
        let store = RocksStore::open(&dir)?;
        match store.get(Table::Meta, SCHEMA_KEY)? {
            None => store.write(vec![(Table::Meta, SCHEMA_KEY.to_vec(), Some(encode_schema()))])?,
            Some(bytes) => {
                let found = serde_json::from_slice::<u64>(&bytes).map_err(|error| CacheError::CorruptRecord {
                    table: Table::Meta,
                    key: String::from_utf8_lossy(SCHEMA_KEY).into_owned(),
                    reason: error.to_string(),
                })?;
                if found != SCHEMA_VERSION {
                    return Err(CacheError::UnsupportedSchema { path: dir, found, supported: SCHEMA_VERSION });
                }
            }
        }
        Ok(Self::with_store(Box::new(store)))
    }

    /// Opens the database under `root` read-only, for readers such as `graphbuild lower` that
    /// must not wait for (or disturb) a running build; `None` when there is no database yet.
    pub fn open_read_only(root: &Path) -> Result<Option<Self>, CacheError> {
        let dir = root.join("db");
        if !dir.join("CURRENT").exists() {
            return Ok(None);
        }
        Ok(Some(Self::with_store(Box::new(RocksStore::open_read_only(&dir)?))))
    }

    /// A database over any store (a [`crate::MemoryStore`] in tests).
    pub fn with_store(store: Box<dyn KvStore>) -> Self {
        Self { store, file_cache: std::sync::Mutex::default(), image_writes: std::sync::Mutex::default() }
    }

    /// The result stored under `key`, if any.
    pub fn result(&self, key: &CacheKey) -> Result<Option<ResultRecord>, CacheError> {
        self.get(Table::Results, key.as_bytes(), || key.to_string())
    }

    /// Stores a result (durably) under `key`, replacing any earlier one.
    pub fn put_result(&self, key: &CacheKey, record: &ResultRecord) -> Result<(), CacheError> {
        self.store.write(vec![put(Table::Results, key.as_bytes().to_vec(), record, || key.to_string())?])
    }

    /// Stores a result together with the records of the layers it introduced, in one durable
    /// batch: after a crash either all of them exist or none does, and it costs one fsync.
    pub fn publish_result(
        &self,
        key: &CacheKey,
        record: &ResultRecord,
        new_layers: &[(LayerId, LayerRecord)],
    ) -> Result<(), CacheError> {
        let mut writes = Vec::with_capacity(new_layers.len() + 1);
        for (id, layer) in new_layers {
            writes.push(put(Table::Layers, id.as_str().as_bytes().to_vec(), layer, || id.to_string())?);
        }
        writes.push(put(Table::Results, key.as_bytes().to_vec(), record, || key.to_string())?);
        self.store.write(writes)
    }

    /// Every stored result, in key order (for prune and df).
    pub fn results(&self) -> Result<Vec<(CacheKey, ResultRecord)>, CacheError> {
        self.scan(Table::Results, |bytes| {
            let raw: [u8; 32] = bytes.try_into().map_err(|_| format!("a {}-byte key, expected 32", bytes.len()))?;
            Ok(CacheKey(gb_ir::Sha256Digest::from_bytes(raw)))
        })
    }

    /// Removes the result under `key` (no error if there is none).
    pub fn remove_result(&self, key: &CacheKey) -> Result<(), CacheError> {
        self.store.write(vec![(Table::Results, key.as_bytes().to_vec(), None)])
    }

    /// The index entry of one host file.
    pub fn file_record(&self, path: &str) -> Result<Option<FileRecord>, CacheError> {
        self.get(Table::FileIndex, path.as_bytes(), || path.to_owned())
    }

    /// The index entries of many host files in one batched lookup, in the order of `paths`.
    pub fn file_records(&self, paths: &[&str]) -> Result<Vec<Option<FileRecord>>, CacheError> {
        let mut found: Vec<Option<FileRecord>> = {
            let cache = self.file_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            paths.iter().map(|path| cache.get(*path).copied()).collect()
        };
        let missing: Vec<usize> = (0..paths.len()).filter(|&i| found[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let keys: Vec<&[u8]> = missing.iter().map(|&i| paths[i].as_bytes()).collect();
        let values = self.store.get_many(Table::FileIndex, &keys)?;
        let mut read = Vec::new();
        for (&i, value) in missing.iter().zip(values) {
            if let Some(bytes) = value {
                let record: FileRecord = decode(Table::FileIndex, &bytes, || paths[i].to_owned())?;
                read.push((paths[i].to_owned(), record));
                found[i] = Some(record);
            }
        }
        self.remember_files(read);
        Ok(found)
    }

    fn remember_files(&self, records: impl IntoIterator<Item = (String, FileRecord)>) {
        let mut cache = self.file_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (path, record) in records {
            if cache.len() >= FILE_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(path, record);
        }
    }

    /// Stores index entries in one batch. Not synced: the index is a shortcut that a crash
    /// only makes slower (files are hashed again).
    pub fn put_file_records(&self, records: &[(String, FileRecord)]) -> Result<(), CacheError> {
        let writes = records
            .iter()
            .map(|(path, record)| put(Table::FileIndex, path.as_bytes().to_vec(), record, || path.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        if writes.is_empty() {
            return Ok(());
        }
        self.store.write(writes)?;
        self.remember_files(records.iter().cloned());
        Ok(())
    }

    /// The image stored under `name`, if any.
    pub fn image(&self, name: &ImageName) -> Result<Option<ImageRecord>, CacheError> {
        self.get(Table::Images, name.as_str().as_bytes(), || name.to_string())
    }

    /// Stores an image (durably) under `name`, replacing any earlier one. As docker, the image
    /// the name leaves is kept, dangling ([`ImageName::dangling`]), when no other name holds it,
    /// an image that gets a name is no longer dangling, and a named image stored nameless stays
    /// as it is; all in one batch.
    pub fn put_image(&self, name: &ImageName, record: &ImageRecord) -> Result<(), CacheError> {
        let _filing = self.image_writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = |name: &ImageName| name.as_str().as_bytes().to_vec();
        // An image that has a name is not dangling: storing it nameless again (an import or a
        // commit of the same content) changes nothing.
        if name.is_dangling()
            && self
                .images()?
                .iter()
                .any(|(other, image)| !other.is_dangling() && image.config_digest == record.config_digest)
        {
            return Ok(());
        }
        let mut writes = vec![put(Table::Images, key(name), record, || name.to_string())?];
        if !name.is_dangling() {
            let dangling = ImageName::dangling(&record.config_digest);
            writes.push((Table::Images, key(&dangling), None));
            if let Some(old) = self.image(name)?
                && old.config_digest != record.config_digest
            {
                let named_elsewhere = self.images()?.iter().any(|(other, image)| {
                    other != name && !other.is_dangling() && image.config_digest == old.config_digest
                });
                if !named_elsewhere {
                    let kept = ImageName::dangling(&old.config_digest);
                    writes.push(put(Table::Images, key(&kept), &old, || kept.to_string())?);
                }
            }
        }
        self.store.write(writes)
    }

    /// Every stored image, by name.
    pub fn images(&self) -> Result<Vec<(ImageName, ImageRecord)>, CacheError> {
        self.scan(Table::Images, |bytes| utf8_key(bytes).map(ImageName::stored))
    }

    /// Removes the image under `name` (no error if there is none).
    pub fn remove_image(&self, name: &ImageName) -> Result<(), CacheError> {
        self.store.write(vec![(Table::Images, name.as_str().as_bytes().to_vec(), None)])
    }

    /// The record of a committed layer, if any.
    pub fn layer(&self, id: &LayerId) -> Result<Option<LayerRecord>, CacheError> {
        self.get(Table::Layers, id.as_str().as_bytes(), || id.to_string())
    }

    /// Records a committed layer (durably); call it after the directory was renamed into place.
    pub fn put_layer(&self, id: &LayerId, record: &LayerRecord) -> Result<(), CacheError> {
        self.store.write(vec![put(Table::Layers, id.as_str().as_bytes().to_vec(), record, || id.to_string())?])
    }

    /// The blob a layer was exported as with a compression (`gzip`, `zstd`, `none`), plus the
    /// SOURCE_DATE_EPOCH it was clamped to (`-` for none), when it was exported before.
    pub fn layer_blob(&self, id: &LayerId, variant: &str) -> Result<Option<LayerBlobRecord>, CacheError> {
        let key = format!("layerblob:{id}:{variant}");
        self.get(Table::Meta, key.as_bytes(), || key.clone())
    }

    /// Records the blob a layer was exported as.
    pub fn put_layer_blob(&self, id: &LayerId, variant: &str, record: &LayerBlobRecord) -> Result<(), CacheError> {
        let key = format!("layerblob:{id}:{variant}");
        self.store.write(vec![put(Table::Meta, key.clone().into_bytes(), record, || key.clone())?])
    }

    /// Every layer record, by id (for prune and df).
    pub fn layers(&self) -> Result<Vec<(LayerId, LayerRecord)>, CacheError> {
        self.scan(Table::Layers, |bytes| utf8_key(bytes)?.parse().map_err(|_| "not 32 lowercase hex digits".to_owned()))
    }

    /// Removes a layer record (no error if there is none); remove the directory after this.
    pub fn remove_layer(&self, id: &LayerId) -> Result<(), CacheError> {
        self.store.write(vec![(Table::Layers, id.as_str().as_bytes().to_vec(), None)])
    }

    fn get<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &[u8],
        describe_key: impl FnOnce() -> String,
    ) -> Result<Option<T>, CacheError> {
        self.store.get(table, key)?.map(|bytes| decode(table, &bytes, describe_key)).transpose()
    }

    /// Every record of `table`, with keys parsed by `parse_key` (which returns why a key is bad).
    fn scan<K, T: DeserializeOwned>(
        &self,
        table: Table,
        parse_key: impl Fn(&[u8]) -> Result<K, String>,
    ) -> Result<Vec<(K, T)>, CacheError> {
        self.store
            .scan_prefix(table, b"")?
            .into_iter()
            .map(|(key, value)| {
                let parsed = parse_key(&key).map_err(|reason| CacheError::CorruptRecord {
                    table,
                    key: printable_key(table, &key),
                    reason: format!("invalid key: {reason}"),
                })?;
                Ok((parsed, decode(table, &value, || printable_key(table, &key))?))
            })
            .collect()
    }
}

fn encode_schema() -> Vec<u8> {
    SCHEMA_VERSION.to_string().into_bytes()
}

fn decode<T: DeserializeOwned>(
    table: Table,
    bytes: &[u8],
    describe_key: impl FnOnce() -> String,
) -> Result<T, CacheError> {
    serde_json::from_slice(bytes).map_err(|error| CacheError::CorruptRecord {
        table,
        key: describe_key(),
        reason: error.to_string(),
    })
}

fn put<T: Serialize>(
    table: Table,
    key: Vec<u8>,
    record: &T,
    describe_key: impl FnOnce() -> String,
) -> Result<KvWrite, CacheError> {
    // Serializing these records can't fail (string map keys only), but a bug should not panic.
    let value = serde_json::to_vec(record).map_err(|error| CacheError::CorruptRecord {
        table,
        key: describe_key(),
        reason: format!("cannot encode: {error}"),
    })?;
    Ok((table, key, Some(value)))
}

fn utf8_key(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8".to_owned())
}

/// A key for an error message: a digest for a result, text when it is UTF-8, else hex.
fn printable_key(table: Table, bytes: &[u8]) -> String {
    if let (Table::Results, Ok(raw)) = (table, <[u8; 32]>::try_from(bytes)) {
        return gb_ir::Sha256Digest::from_bytes(raw).to_string();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("0x{}", hex::encode(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use gb_ir::Sha256Digest;

    use super::*;
    use crate::ids::Snapshot;
    use crate::kv::KvPair;
    use crate::memory::MemoryStore;

    fn key(seed: &str) -> CacheKey {
        CacheKey(Sha256Digest::of(seed.as_bytes()))
    }

    fn result_record() -> ResultRecord {
        ResultRecord {
            outputs: vec![Snapshot::default(), Snapshot { layers: vec![LayerId::random(), LayerId::random()] }],
            created_unix: 1_700_000_000,
            description: "RUN make".to_owned(),
            effective_key: None,
        }
    }

    fn file_record(seed: u64) -> FileRecord {
        FileRecord {
            size: seed,
            mtime_ns: -1_000_000_007,
            ctime_ns: 1_700_000_000_123_456_789,
            inode: seed * 3,
            device: 2049,
            mode: 0o100644,
            uid: 1000,
            gid: 1000,
            sha256: Sha256Digest::of(&seed.to_le_bytes()),
            no_xattrs: seed.is_multiple_of(2),
        }
    }

    fn image_record() -> ImageRecord {
        ImageRecord {
            reference: "docker.io/library/alpine:3.20".to_owned(),
            manifest_digest: Sha256Digest::of(b"manifest"),
            config_digest: Sha256Digest::of(b"config"),
            config: serde_json::json!({ "architecture": "amd64", "os": "linux", "config": { "Env": ["PATH=/bin"] } }),
            layers: vec![LayerId::random()],
            diff_ids: vec![Sha256Digest::of(b"layer")],
            created_unix: 1_700_000_001,
        }
    }

    /// Runs `check` against a database over each backend.
    fn for_each_backend(check: impl Fn(&CacheDb)) {
        check(&CacheDb::with_store(Box::new(MemoryStore::new())));
        let root = tempfile::tempdir().expect("tempdir");
        check(&CacheDb::open(root.path()).expect("open"));
    }

    /// A name moving to another image leaves the old one dangling unless another name holds
    /// it; naming a dangling image again ends its dangling entry.
    #[test]
    fn a_name_that_moves_leaves_its_old_image_dangling() {
        for_each_backend(|db| {
            let old = image_record();
            let mut new = image_record();
            new.config_digest = gb_ir::Sha256Digest::of(b"another config");
            let (app, other) = (ImageName::parse("app").expect("name"), ImageName::parse("other").expect("name"));
            let names = |db: &CacheDb| db.images().expect("scan").into_iter().map(|(n, _)| n).collect::<Vec<_>>();
            db.put_image(&app, &old).expect("put");
            db.put_image(&other, &old).expect("put");
            db.put_image(&app, &new).expect("put");
            assert_eq!(names(db), [app.clone(), other.clone()], "another name holds the old image");
            db.put_image(&other, &new).expect("put");
            let dangling = ImageName::dangling(&old.config_digest);
            assert!(dangling.is_dangling() && !app.is_dangling());
            assert_eq!(db.image(&dangling).expect("get"), Some(old.clone()));
            assert_eq!(names(db).len(), 3);
            db.put_image(&app, &old).expect("put");
            assert_eq!(db.image(&dangling).expect("get"), None, "named again");
            db.put_image(&app, &old).expect("put");
            assert_eq!(names(db).len(), 2, "storing the same image again leaves nothing behind");
            db.put_image(&dangling, &old).expect("put");
            assert_eq!(db.image(&dangling).expect("get"), None, "a named image stored nameless stays named only");
        });
    }

    #[test]
    fn every_record_round_trips() {
        for_each_backend(|db| {
            let result = result_record();
            assert_eq!(db.result(&key("a")).expect("get"), None);
            db.put_result(&key("a"), &result).expect("put");
            assert_eq!(db.result(&key("a")).expect("get"), Some(result.clone()));
            assert_eq!(db.results().expect("scan"), [(key("a"), result)]);
            db.remove_result(&key("a")).expect("remove");
            assert_eq!(db.result(&key("a")).expect("get"), None);

            let file = file_record(7);
            db.put_file_records(&[("/ctx/a.txt".to_owned(), file)]).expect("put");
            assert_eq!(db.file_record("/ctx/a.txt").expect("get"), Some(file));
            assert_eq!(db.file_record("/ctx/b.txt").expect("get"), None);

            let image = image_record();
            let alpine = ImageName::parse("alpine:3.20").expect("name");
            db.put_image(&alpine, &image).expect("put");
            assert_eq!(
                db.image(&ImageName::parse("docker.io/library/alpine:3.20").expect("name")).expect("get"),
                Some(image.clone())
            );
            assert_eq!(db.images().expect("scan"), [(alpine.clone(), image)]);
            assert_eq!(db.images().expect("scan")[0].0.as_str(), "docker.io/library/alpine:3.20");
            db.remove_image(&alpine).expect("remove");
            assert_eq!(db.image(&alpine).expect("get"), None);
            assert!(db.images().expect("scan").is_empty());
            assert!(db.results().expect("scan").is_empty());

            let id = LayerId::random();
            let layer = LayerRecord { size: 4096, created_unix: 1_700_000_002 };
            db.put_layer(&id, &layer).expect("put");
            assert_eq!(db.layer(&id).expect("get"), Some(layer));
            assert_eq!(db.layers().expect("scan"), [(id.clone(), layer)]);
            db.remove_layer(&id).expect("remove");
            assert_eq!(db.layer(&id).expect("get"), None);
        });
    }

    #[test]
    fn file_records_are_looked_up_in_one_batch_in_order() {
        for_each_backend(|db| {
            let records: Vec<_> = (0..1000).map(|i| (format!("/ctx/dir{}/file{i}", i % 7), file_record(i))).collect();
            db.put_file_records(&records).expect("put");
            db.put_file_records(&[]).expect("an empty batch is fine");
            let mut paths: Vec<&str> = records.iter().rev().map(|(path, _)| path.as_str()).collect();
            paths.insert(500, "/ctx/missing");
            let found = db.file_records(&paths).expect("get");
            assert_eq!(found.len(), 1001);
            assert_eq!(found[500], None);
            assert_eq!(found[0], Some(file_record(999)));
            assert_eq!(found[1000], Some(file_record(0)));
            assert_eq!(found.iter().flatten().count(), 1000);
            assert!(db.file_records(&[]).expect("empty").is_empty());
        });
    }

    #[test]
    fn batches_are_applied_whole_in_order() {
        let root = tempfile::tempdir().expect("tempdir");
        let rocks = RocksStore::open(root.path()).expect("open");
        let memory = MemoryStore::new();
        for store in [&rocks as &dyn KvStore, &memory] {
            store.write(vec![(Table::Images, b"stale".to_vec(), Some(b"1".to_vec()))]).expect("write");
            store
                .write(vec![
                    (Table::Results, b"k".to_vec(), Some(b"r".to_vec())),
                    (Table::Images, b"k".to_vec(), Some(b"first".to_vec())),
                    (Table::Images, b"k".to_vec(), Some(b"second".to_vec())),
                    (Table::Images, b"stale".to_vec(), None),
                    (Table::Layers, b"gone".to_vec(), Some(b"x".to_vec())),
                    (Table::Layers, b"gone".to_vec(), None),
                ])
                .expect("write");
            assert_eq!(store.get(Table::Results, b"k").expect("get"), Some(b"r".to_vec()));
            assert_eq!(store.get(Table::Images, b"k").expect("get"), Some(b"second".to_vec()));
            assert_eq!(store.get(Table::Images, b"stale").expect("get"), None);
            assert_eq!(store.get(Table::Layers, b"gone").expect("get"), None);
            assert_eq!(store.get(Table::Meta, b"k").expect("get"), None, "tables are independent");
        }
    }

    /// Records each batch a [`CacheDb`] writes, to check what goes into one batch.
    #[derive(Default)]
    struct RecordingStore {
        inner: MemoryStore,
        batches: Mutex<Vec<Vec<Table>>>,
    }

    impl KvStore for RecordingStore {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, CacheError> {
            self.inner.get(table, key)
        }

        fn write(&self, writes: Vec<KvWrite>) -> Result<(), CacheError> {
            self.batches.lock().expect("lock").push(writes.iter().map(|(table, _, _)| *table).collect());
            self.inner.write(writes)
        }

        fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<KvPair>, CacheError> {
            self.inner.scan_prefix(table, prefix)
        }
    }

    #[test]
    fn a_result_and_its_new_layers_are_published_in_one_batch() {
        let recording = Arc::new(RecordingStore::default());
        let db = CacheDb::with_store(Box::new(Arc::clone(&recording)));
        let layers: Vec<_> = (0..2).map(|i| (LayerId::random(), LayerRecord { size: i, created_unix: 5 })).collect();
        db.publish_result(&key("p"), &result_record(), &layers).expect("publish");
        db.put_file_records(&[("/a".to_owned(), file_record(1)), ("/b".to_owned(), file_record(2))]).expect("put");
        let batches = recording.batches.lock().expect("lock").clone();
        assert_eq!(batches, [vec![Table::Layers, Table::Layers, Table::Results], vec![Table::FileIndex; 2]]);
        assert!(batches[0].iter().any(|table| table.is_durable()));
        assert!(!batches[1].iter().any(|table| table.is_durable()), "the file index is not synced");
        assert_eq!(db.layer(&layers[1].0).expect("get"), Some(layers[1].1));
        assert!(db.result(&key("p")).expect("get").is_some());
    }

    #[test]
    fn records_persist_across_reopen() {
        let root = tempfile::tempdir().expect("tempdir");
        let (result, image, layer_id) = (result_record(), image_record(), LayerId::random());
        {
            let db = CacheDb::open(root.path()).expect("open");
            db.put_result(&key("a"), &result).expect("put");
            db.put_file_records(&[("/ctx/f".to_owned(), file_record(3))]).expect("put");
            db.put_image(&ImageName::parse("alpine").expect("name"), &image).expect("put");
            db.put_layer(&layer_id, &LayerRecord { size: 1, created_unix: 2 }).expect("put");
        }
        let db = CacheDb::open(root.path()).expect("reopen");
        assert_eq!(db.result(&key("a")).expect("get"), Some(result));
        assert_eq!(db.file_record("/ctx/f").expect("get"), Some(file_record(3)));
        assert_eq!(db.image(&ImageName::parse("alpine").expect("name")).expect("get"), Some(image));
        assert_eq!(db.layer(&layer_id).expect("get"), Some(LayerRecord { size: 1, created_unix: 2 }));
        assert!(root.path().join("db/CURRENT").is_file());
    }

    #[test]
    fn opening_the_same_database_twice_fails_clearly() {
        let root = tempfile::tempdir().expect("tempdir");
        let _first = CacheDb::open(root.path()).expect("open");
        let error = CacheDb::open(root.path()).expect_err("the second open must fail");
        assert!(matches!(&error, CacheError::Locked { path, .. } if path == &root.path().join("db")), "{error:?}");
        let message = error.to_string();
        assert!(message.starts_with("the cache database "), "{message}");
        assert!(message.contains("is in use by another graphbuild process"), "{message}");
    }

    #[test]
    fn a_database_from_another_schema_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        {
            let store = RocksStore::open(&root.path().join("db")).expect("open");
            store.write(vec![(Table::Meta, SCHEMA_KEY.to_vec(), Some(b"99".to_vec()))]).expect("write");
        }
        let error = CacheDb::open(root.path()).expect_err("must refuse");
        assert!(matches!(error, CacheError::UnsupportedSchema { found: 99, supported: SCHEMA_VERSION, .. }), "{error}");
    }

    #[test]
    fn corrupt_records_name_their_table_and_key() {
        let store = MemoryStore::new();
        store
            .write(vec![
                (Table::Results, key("bad").as_bytes().to_vec(), Some(b"{".to_vec())),
                (Table::Images, b"alpine".to_vec(), Some(b"[]".to_vec())),
            ])
            .expect("write");
        let db = CacheDb::with_store(Box::new(store));
        let error = db.result(&key("bad")).expect_err("corrupt");
        assert!(error.to_string().starts_with(&format!("corrupt results record {}: ", key("bad"))), "{error}");
        assert!(db.results().expect_err("corrupt").to_string().contains(&key("bad").to_string()));
        let error = db.images().expect_err("corrupt");
        assert!(error.to_string().starts_with("corrupt images record alpine: "), "{error}");
    }
}
