//! SLSA provenance of a build (`--provenance`, `--attest type=provenance`), as BuildKit v0.32
//! writes it by default (SLSA v1, BuildKit's build type), from what the engine knows: the base
//! images with their manifest digests, the remote sources, the front end's request (its build
//! arguments and the Dockerfile's path), the local contexts read, and when the build ran.

use std::collections::BTreeMap;

use gb_ir::{Definition, ImageReference, Op, Platform, Sha256Digest, SourceOp};
use serde_json::{Value, json};

/// BuildKit's SLSA v1 build type.
const BUILD_TYPE: &str = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md";
/// The predicate type of SLSA v1 provenance.
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// How much the provenance tells, as BuildKit's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvenanceMode {
    /// The request, the resolved dependencies and the times.
    Min,
    /// Also the whole build graph (graphbuild's Definition, where BuildKit puts its LLB).
    Max,
}

/// What the front end was asked, for the provenance's `externalParameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// `min` or `max`.
    pub mode: ProvenanceMode,
    /// The front end's name (`dockerfile.v0`, as BuildKit names the Dockerfile front end).
    pub frontend: String,
    /// Its options as BuildKit records them (`build-arg:NAME`, `target`, `label:NAME`).
    pub args: BTreeMap<String, String>,
    /// The Dockerfile's path in its context (`configSource.path`).
    pub config_path: String,
    /// The local directories the build read (`context`, `dockerfile`).
    pub locals: Vec<String>,
}

/// When one platform's build ran, and what it made.
pub struct Built<'a> {
    /// Its graph.
    pub definition: &'a Definition,
    /// Its platform.
    pub platform: &'a Platform,
    /// The image manifest the provenance is about.
    pub manifest: Sha256Digest,
    /// The names it is exported under (normalized); none gives BuildKit's `_`.
    pub names: &'a [String],
    /// Start and end, seconds since the Unix epoch.
    pub started: i64,
    /// See `started`.
    pub finished: i64,
}

/// The in-toto statement of `built`'s SLSA v1 provenance.
pub fn statement(provenance: &Provenance, built: &Built<'_>) -> Value {
    let subject: Vec<Value> = if built.names.is_empty() {
        vec![json!({ "name": "_", "digest": { "sha256": built.manifest.hex() } })]
    } else {
        built
            .names
            .iter()
            .filter_map(|name| ImageReference::parse(name).ok())
            .map(|name| json!({ "name": purl(&name, Some(built.platform)), "digest": { "sha256": built.manifest.hex() } }))
            .collect()
    };
    let (dependencies, complete) = resolved_dependencies(built.definition);
    let locals: Vec<Value> = provenance.locals.iter().map(|name| json!({ "name": name })).collect();
    let mut request = json!({ "frontend": provenance.frontend, "locals": locals });
    if !provenance.args.is_empty() {
        request["args"] = json!(provenance.args);
    }
    let mut internal = json!({ "builderPlatform": Platform::host().to_string() });
    if provenance.mode == ProvenanceMode::Max {
        internal["buildConfig"] = json!({ "graphbuildDefinition": built.definition });
    }
    // Local contexts are read, not pinned: the dependencies are then incomplete, as BuildKit says.
    let complete = complete && provenance.locals.is_empty();
    json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SLSA_V1,
        "subject": subject,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "configSource": { "path": provenance.config_path },
                    "request": request,
                },
                "internalParameters": internal,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": { "id": "" },
                "metadata": {
                    "invocationID": gb_cache::LayerId::random().to_string(),
                    "startedOn": gb_export::rfc3339(built.started),
                    "finishedOn": gb_export::rfc3339(built.finished),
                    "buildkit_completeness": { "request": true, "resolvedDependencies": complete },
                    "buildkit_hermetic": false,
                },
            },
        },
    })
}

/// The graph's remote sources as SLSA resource descriptors (base images by their pinned
/// manifests, downloads by their checksums, git repositories), and whether every one is pinned.
fn resolved_dependencies(definition: &Definition) -> (Vec<Value>, bool) {
    let mut dependencies = Vec::new();
    let mut complete = true;
    for entry in &definition.ops {
        let Op::Source(source) = &entry.node.op else { continue };
        let (uri, digest) = match source {
            SourceOp::Image(image) => match ImageReference::parse(&image.reference) {
                Ok(reference) => (purl(&reference, entry.node.platform.as_ref()), image.manifest),
                Err(_) => continue,
            },
            SourceOp::Http(http) => (http.url.clone(), http.checksum),
            SourceOp::Git(git) => (git.remote.clone(), None),
            SourceOp::Local(_) | SourceOp::Scratch => continue,
        };
        complete &= digest.is_some();
        let mut dependency = json!({ "uri": uri });
        if let Some(digest) = digest {
            dependency["digest"] = json!({ "sha256": digest.hex() });
        }
        if !dependencies.contains(&dependency) {
            dependencies.push(dependency);
        }
    }
    (dependencies, complete)
}

/// An image's package URL, as BuildKit's `purl.RefToPURL` writes it:
/// `pkg:docker/NAME@TAG?platform=OS%2FARCH` (the familiar name; `latest` without a tag).
fn purl(reference: &ImageReference, platform: Option<&Platform>) -> String {
    let familiar = ImageReference { tag: None, digest: None, ..reference.clone() }.familiar();
    let mut uri = format!("pkg:docker/{familiar}@{}", reference.tag.as_deref().unwrap_or("latest"));
    if let Some(platform) = platform {
        uri.push_str(&format!("?platform={}", platform.to_string().replace('/', "%2F")));
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls_read_as_buildkit_writes_them() {
        let amd64 = Platform::parse("linux/amd64").expect("platform");
        let busybox = ImageReference::parse("busybox").expect("reference");
        assert_eq!(purl(&busybox, Some(&amd64)), "pkg:docker/busybox@latest?platform=linux%2Famd64");
        let local = ImageReference::parse("127.0.0.1:5000/team/app:1").expect("reference");
        assert_eq!(purl(&local, None), "pkg:docker/127.0.0.1:5000/team/app@1");
    }
}
