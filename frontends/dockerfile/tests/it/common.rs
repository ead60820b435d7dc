//! Shared helpers: reading test-case options from leading comments and rendering a
//! Definition as a compact, digest-free summary for snapshots.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use gb_dockerfile::{ImageResolver, LowerOptions, ResolvedImage};
use gb_ir::{Definition, EnvVar, ImageConfig, ImageReference, OpDigest, Platform};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Options written as `# key: value` comment lines at the top of a test Dockerfile:
/// `args: K=V ...`, `target: NAME`, `platform: os/arch`, `dockerignore: PATTERN ...`,
/// `images: local` (use [`TestImages`]).
pub fn options_from_header(text: &str) -> (LowerOptions, bool) {
    let mut options = LowerOptions {
        dockerfile_name: "Dockerfile".to_owned(),
        target_platform: Some(Platform::parse("linux/amd64").expect("valid platform")),
        build_platform: Some(Platform::parse("linux/amd64").expect("valid platform")),
        ..LowerOptions::default()
    };
    let mut local_images = false;
    for line in text.lines().take_while(|line| line.starts_with('#')) {
        let Some((key, value)) = line.trim_start_matches('#').trim().split_once(": ") else { continue };
        match key {
            "args" => {
                options.build_args = value
                    .split_whitespace()
                    .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .collect::<BTreeMap<_, _>>()
            }
            "target" => options.target = Some(value.to_owned()),
            "platform" => options.target_platform = Platform::parse(value),
            "dockerignore" => {
                options.context_excludes =
                    gb_patterns::parse_dockerignore(&value.split_whitespace().collect::<Vec<_>>().join("\n"))
                        .expect("valid patterns")
            }
            "images" => local_images = value == "local",
            _ => {}
        }
    }
    (options, local_images)
}

/// A stand-in local image store with two images, for tests of resolved base configs.
pub struct TestImages;

impl ImageResolver for TestImages {
    fn resolve(
        &self,
        reference: &ImageReference,
        _: &Platform,
    ) -> Result<Option<ResolvedImage>, gb_dockerfile::ResolveError> {
        let config = match reference.to_string().as_str() {
            "docker.io/library/busybox:latest" => ImageConfig {
                env: vec![EnvVar::new("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")],
                cmd: Some(vec!["sh".to_owned()]),
                ..ImageConfig::default()
            },
            "docker.io/local/onbuild-base:1" => ImageConfig {
                env: vec![EnvVar::new("PATH", "/usr/bin:/bin"), EnvVar::new("HOME", "/home/app")],
                working_dir: Some("/home/app".to_owned()),
                user: Some("app".to_owned()),
                on_build: vec!["RUN echo fired from the base image".to_owned(), "ENV FROM_TRIGGER=1".to_owned()],
                ..ImageConfig::default()
            },
            _ => return Ok(None),
        };
        Ok(Some(ResolvedImage {
            manifest: Some(gb_ir::Sha256Digest::of(reference.to_string().as_bytes())),
            config,
            platform: None,
        }))
    }
}

/// A readable rendering of a Definition with digests replaced by op numbers, so snapshots
/// show structure and stay reviewable.
pub fn summary(definition: &Definition) -> String {
    let numbers: HashMap<OpDigest, usize> = definition.ops.iter().enumerate().map(|(i, e)| (e.digest, i)).collect();
    let number = |digest: &OpDigest| numbers.get(digest).map_or_else(|| "?".to_owned(), |n| format!("#{n}"));
    let mut out = String::new();
    for (i, entry) in definition.ops.iter().enumerate() {
        let inputs: Vec<String> =
            entry
                .node
                .inputs
                .iter()
                .map(|input| {
                    if input.output == 0 {
                        number(&input.op)
                    } else {
                        format!("{}.{}", number(&input.op), input.output)
                    }
                })
                .collect();
        let description = definition.metadata.get(&entry.digest).map(|m| m.description.as_str()).unwrap_or("");
        out.push_str(&format!("#{i} {} <- [{}]  // {description}\n", entry.node.kind(), inputs.join(", ")));
        let op = serde_json::to_string(&entry.node.op).unwrap_or_default();
        out.push_str(&format!("    {op}\n"));
    }
    if let Some(output) = &definition.output {
        out.push_str(&format!("output: {}\n", number(&output.op)));
    }
    if let Some(image) = &definition.image {
        out.push_str("image:\n");
        out.push_str(&serde_json::to_string_pretty(image).unwrap_or_default());
        out.push('\n');
    }
    out
}
