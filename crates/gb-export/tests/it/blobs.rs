//! Layer blobs: digests of the tar and of the blob, media types, the per-layer cache, and
//! reproducible bytes with SOURCE_DATE_EPOCH.

use std::io::Read;

use gb_cache::LayerBlobRecord;
use gb_export::{Compression, layer_blobs};
use gb_ir::Sha256Digest;

use crate::support::Root;

const ALL: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::Uncompressed];

fn uncompressed(root: &Root, record: &LayerBlobRecord) -> Vec<u8> {
    let blob = root.content.read(&record.digest).expect("read blob");
    let mut out = Vec::new();
    match Compression::from_media_type(&record.media_type).expect("a layer media type") {
        Compression::Gzip => flate2::read::GzDecoder::new(blob.as_slice()).read_to_end(&mut out),
        Compression::Zstd => zstd::Decoder::new(blob.as_slice()).and_then(|mut d| d.read_to_end(&mut out)),
        Compression::Uncompressed => return blob,
    }
    .expect("decompress");
    out
}

#[test]
fn blobs_carry_the_digests_of_the_tar_and_of_the_blob() {
    let root = Root::new();
    let layers = root.fixture(None);
    for compression in ALL {
        let records = layer_blobs(&root.ctx(), &layers, compression, None).expect("layer blobs");
        assert_eq!(records.len(), 2);
        for (record, layer) in records.iter().zip(&layers) {
            let blob = root.content.read(&record.digest).expect("read blob");
            assert_eq!(Sha256Digest::of(&blob), record.digest);
            assert_eq!(blob.len() as u64, record.size);
            assert_eq!(record.media_type, compression.media_type());
            let tar = uncompressed(&root, record);
            assert_eq!(Sha256Digest::of(&tar), record.diff_id, "the diff id is the uncompressed tar's digest");
            let mut direct = Vec::new();
            root.snapshots.layer_diff_tar(layer, &mut direct).expect("layer diff tar");
            assert_eq!(tar, direct, "the blob holds the layer's diff tar");
        }
        if compression == Compression::Uncompressed {
            assert!(records.iter().all(|record| record.digest == record.diff_id));
        }
    }
    assert_eq!(Compression::Gzip.media_type(), "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(Compression::Zstd.media_type(), "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_eq!(Compression::Uncompressed.media_type(), "application/vnd.oci.image.layer.v1.tar");
}

#[test]
fn the_change_layer_has_whiteouts_an_opaque_dir_and_links() {
    let root = Root::new();
    let layers = root.fixture(None);
    let records = layer_blobs(&root.ctx(), &layers[1..], Compression::Uncompressed, None).expect("layer blobs");
    let tar = uncompressed(&root, &records[0]);
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries: Vec<(String, tar::EntryType, String)> = archive
        .entries()
        .expect("entries")
        .map(|entry| {
            let entry = entry.expect("entry");
            let link = entry.link_name().expect("link").map(|l| l.display().to_string()).unwrap_or_default();
            (entry.path().expect("path").display().to_string(), entry.header().entry_type(), link)
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|(name, _, _)| name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted");
    assert!(names.contains(&"etc/.wh.remove-me"), "{names:?}");
    assert!(names.contains(&"var/cache/.wh..wh..opq"), "{names:?}");
    assert!(entries.contains(&("bin/alias".into(), tar::EntryType::Symlink, "tool".into())), "{entries:?}");
    assert!(entries.contains(&("bin/tool-link".into(), tar::EntryType::Link, "bin/tool".into())), "{entries:?}");
}

#[test]
fn a_layer_is_compressed_once_per_compression_and_epoch() {
    let root = Root::new();
    let layers = root.fixture(None);
    let first = layer_blobs(&root.ctx(), &layers, Compression::Gzip, None).expect("layer blobs");
    let blobs = root.blob_count();
    // The same layer twice in one call, and again in a second call: no new blob.
    let doubled = [layers.clone(), layers.clone()].concat();
    let again = layer_blobs(&root.ctx(), &doubled, Compression::Gzip, None).expect("layer blobs");
    assert_eq!(again, [first.clone(), first.clone()].concat());
    assert_eq!(root.blob_count(), blobs, "a cache hit writes no blob");
    assert_eq!(root.db.layer_blob(&layers[0], "gzip:-").expect("read record"), Some(first[0].clone()));

    // Another epoch is another variant, and a pruned blob is made again.
    layer_blobs(&root.ctx(), &layers, Compression::Gzip, Some(1_000_000_000)).expect("layer blobs");
    assert!(root.db.layer_blob(&layers[0], "gzip:1000000000").expect("read record").is_some());
    root.content.remove(&first[1].digest).expect("remove");
    let remade = layer_blobs(&root.ctx(), &layers, Compression::Gzip, None).expect("layer blobs");
    assert_eq!(remade, first, "the same bytes again");
    assert!(root.content.contains(&first[1].digest));
}

#[test]
fn source_date_epoch_makes_layers_identical_across_roots() {
    let epoch = 1_700_000_000;
    let (a, b) = (Root::new(), Root::new());
    // Different file times in the two roots, all later than the epoch.
    let layers_a = a.fixture(None);
    let layers_b = b.fixture(Some(1_800_000_000));
    for compression in ALL {
        let clamped_a = layer_blobs(&a.ctx(), &layers_a, compression, Some(epoch)).expect("layer blobs");
        let clamped_b = layer_blobs(&b.ctx(), &layers_b, compression, Some(epoch)).expect("layer blobs");
        assert_eq!(clamped_a, clamped_b, "{compression}: same digests from both roots");
        let plain_a = layer_blobs(&a.ctx(), &layers_a, compression, None).expect("layer blobs");
        let plain_b = layer_blobs(&b.ctx(), &layers_b, compression, None).expect("layer blobs");
        assert_ne!(plain_a[1].diff_id, plain_b[1].diff_id, "{compression}: without the epoch the times show");
    }
    let tar = uncompressed(&a, &layer_blobs(&a.ctx(), &layers_a, Compression::Zstd, Some(epoch)).expect("blobs")[1]);
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().expect("entries") {
        assert_eq!(entry.expect("entry").header().mtime().expect("mtime"), epoch as u64);
    }
}

/// gzip levels 1 to 6 (and zstd 3) on a real tree as one layer, for the choice of
/// `GZIP_LEVEL`: `GZIP_BENCH_DIR=/usr/bin cargo test -p gb-export --release --test it --
/// --ignored --nocapture gzip_levels`.
#[test]
#[ignore = "a measurement, not a check"]
fn gzip_levels() {
    use std::io::Write;
    use std::time::Instant;
    let root = Root::new();
    let source = std::env::var("GZIP_BENCH_DIR").unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu".into());
    let layer = root.layer(|dir| {
        let status = std::process::Command::new("cp").arg("-a").arg(format!("{source}/.")).arg(dir).status();
        assert!(status.expect("cp").success());
    });
    let mut tar = Vec::new();
    root.snapshots.layer_diff_tar(&layer, &mut tar).expect("tar");
    for level in [1, 2, 3, 4, 6] {
        let start = Instant::now();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        encoder.write_all(&tar).expect("write");
        let out = encoder.finish().expect("finish");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "gzip level {level}: {} MB -> {} MB ({:.1}%) in {secs:.2} s, {:.0} MB/s",
            tar.len() / 1_000_000,
            out.len() / 1_000_000,
            100.0 * out.len() as f64 / tar.len() as f64,
            tar.len() as f64 / 1e6 / secs
        );
    }
    let start = Instant::now();
    let out = zstd::encode_all(tar.as_slice(), 3).expect("zstd");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "zstd level 3: {} MB ({:.1}%) in {secs:.2} s",
        out.len() / 1_000_000,
        100.0 * out.len() as f64 / tar.len() as f64
    );
}
