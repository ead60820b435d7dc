//! `--cache-to` / `--cache-from` values, as BuildKit (buildx, buildctl) writes them:
//! `type=local,dest=DIR`, `type=local,src=DIR`, `type=registry,ref=REF`, with `mode=min|max`.

use std::fmt;
use std::path::PathBuf;

use gb_ir::ImageReference;

use crate::error::CacheShareError;

/// Where a cache is exported to or imported from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// An OCI image layout directory (`index.json`, `blobs/sha256/…`), the manifest tagged
    /// `latest`.
    Local(PathBuf),
    /// A registry repository and tag (`latest` when none is given).
    Registry(ImageReference),
    /// A REAPI v2 server (`type=reapi,endpoint=grpc://HOST:PORT`): steps' results are looked up
    /// one by one as the solve needs them, not imported ahead (the engine's `gb-reapi`).
    Reapi(ReapiLocation),
}

/// A REAPI cache endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct ReapiLocation {
    /// `grpc://HOST:PORT`.
    pub endpoint: String,
    /// The REAPI instance name (empty: the default instance).
    pub instance: String,
    /// Whether failures are warnings (`ignore-error=true`, the default) or the build's.
    pub ignore_error: bool,
    /// A bearer token for the endpoint (from `config.toml`, never from the command line),
    /// never printed.
    pub token: Option<String>,
    /// For `grpcs://`: a CA certificate to trust, and a client certificate and key (mTLS),
    /// PEM files named in `config.toml`.
    pub ca_cert: Option<PathBuf>,
    /// The client certificate.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's key.
    pub client_key: Option<PathBuf>,
}

impl fmt::Debug for ReapiLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReapiLocation")
            .field("endpoint", &self.endpoint)
            .field("instance", &self.instance)
            .field("ignore_error", &self.ignore_error)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheLocation::Local(dir) => write!(f, "{}", dir.display()),
            CacheLocation::Registry(reference) => write!(f, "{reference}"),
            CacheLocation::Reapi(reapi) => write!(f, "{}", reapi.endpoint),
        }
    }
}

/// Which results an export includes; the caller applies it (see [`crate::export_cache`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Only the result the build's output is (`SolveResult::output_key`): BuildKit's default.
    #[default]
    Min,
    /// Every result of the build, intermediate stages too (`SolveResult::result_keys`).
    Max,
}

/// Parses a `--cache-to` or `--cache-from` value as BuildKit does: comma-separated `key=value`
/// fields with `type=local` and `dest=DIR` (export) or `src=DIR` (import), or `type=registry`
/// and `ref=REF`; `mode=min|max` (default `min`). A value without `=` is a registry reference
/// (buildx's shorthand, `--cache-from user/app:cache`). `oci-mediatypes` and `image-manifest`
/// are accepted and ignored: the cache is always an OCI image manifest. Other types (`inline`,
/// `gha`, `s3`…) and unknown keys are refused.
pub fn parse_cache_option(text: &str) -> Result<(CacheLocation, CacheMode), CacheShareError> {
    let invalid = |reason: String| CacheShareError::InvalidOption { text: text.to_owned(), reason };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    if !trimmed.contains('=') {
        return Ok((CacheLocation::Registry(parse_reference(text, trimmed)?), CacheMode::Min));
    }
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for field in trimmed.split(',').map(str::trim).filter(|field| !field.is_empty()) {
        let Some((key, value)) = field.split_once('=') else {
            return Err(invalid(format!("`{field}` is not key=value")));
        };
        let key = key.trim();
        if fields.iter().any(|(seen, _)| *seen == key) {
            return Err(invalid(format!("`{key}` is given twice")));
        }
        fields.push((key, value.trim()));
    }
    let get = |name: &str| fields.iter().find(|(key, _)| *key == name).map(|(_, value)| *value);
    for (key, _) in &fields {
        if !matches!(
            *key,
            "type"
                | "dest"
                | "src"
                | "ref"
                | "mode"
                | "oci-mediatypes"
                | "image-manifest"
                | "endpoint"
                | "instance"
                | "ignore-error"
        ) {
            return Err(invalid(format!("unknown key `{key}`: expected type, dest, src, ref, endpoint or mode")));
        }
        if matches!(*key, "endpoint" | "instance") && get("type") != Some("reapi") {
            return Err(invalid(format!("`{key}` is for type=reapi")));
        }
    }
    let mode = match get("mode") {
        None | Some("min") => CacheMode::Min,
        Some("max") => CacheMode::Max,
        Some(other) => return Err(invalid(format!("mode `{other}`: expected min or max"))),
    };
    let location = match get("type") {
        Some("local") => {
            if get("ref").is_some() {
                return Err(invalid("`ref` is for type=registry; a local cache takes dest or src".to_owned()));
            }
            let dir = match (get("dest"), get("src")) {
                (Some(dir), None) | (None, Some(dir)) => dir,
                (Some(_), Some(_)) => return Err(invalid("give either dest or src, not both".to_owned())),
                (None, None) => return Err(invalid("type=local needs dest=DIR or src=DIR".to_owned())),
            };
            if dir.is_empty() {
                return Err(invalid("the directory is empty".to_owned()));
            }
            CacheLocation::Local(PathBuf::from(dir))
        }
        Some("registry") => {
            if get("dest").is_some() || get("src").is_some() {
                return Err(invalid("dest and src are for type=local; a registry cache takes ref".to_owned()));
            }
            let reference = get("ref").ok_or_else(|| invalid("type=registry needs ref=REF".to_owned()))?;
            CacheLocation::Registry(parse_reference(text, reference)?)
        }
        Some("reapi") => {
            if ["dest", "src", "ref"].iter().any(|key| get(key).is_some()) {
                return Err(invalid("a REAPI cache takes endpoint (and instance), not dest, src or ref".to_owned()));
            }
            let endpoint =
                get("endpoint").ok_or_else(|| invalid("type=reapi needs endpoint=grpc://HOST:PORT".to_owned()))?;
            let address = endpoint.strip_prefix("grpc://").or_else(|| endpoint.strip_prefix("grpcs://"));
            if !address.is_some_and(|rest| !rest.is_empty() && !rest.contains('/')) {
                return Err(invalid(format!("endpoint `{endpoint}`: expected grpc://HOST:PORT or grpcs://HOST:PORT")));
            }
            let ignore_error = match get("ignore-error") {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => return Err(invalid(format!("ignore-error `{other}`: expected true or false"))),
            };
            CacheLocation::Reapi(ReapiLocation {
                endpoint: endpoint.to_owned(),
                instance: get("instance").unwrap_or_default().to_owned(),
                ignore_error,
                token: None,
                ca_cert: None,
                client_cert: None,
                client_key: None,
            })
        }
        Some(other) => {
            return Err(invalid(format!("cache type `{other}` is not supported: expected local, registry or reapi")));
        }
        None => return Err(invalid("no type: expected type=local, type=registry or type=reapi".to_owned())),
    };
    Ok((location, mode))
}

fn parse_reference(text: &str, reference: &str) -> Result<ImageReference, CacheShareError> {
    ImageReference::parse(reference)
        .map_err(|error| CacheShareError::InvalidOption { text: text.to_owned(), reason: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (CacheLocation, CacheMode) {
        parse_cache_option(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn reason(text: &str) -> String {
        match parse_cache_option(text) {
            Err(CacheShareError::InvalidOption { reason, .. }) => reason,
            other => panic!("{text}: expected an invalid option, got {other:?}"),
        }
    }

    #[test]
    fn local_and_registry_locations_parse_with_their_modes() {
        assert_eq!(parse("type=local,dest=/tmp/c"), (CacheLocation::Local("/tmp/c".into()), CacheMode::Min));
        assert_eq!(parse("type=local,src=cache,mode=max"), (CacheLocation::Local("cache".into()), CacheMode::Max));
        let (location, mode) = parse("type=registry,ref=localhost:5000/app:cache,mode=max");
        assert_eq!(mode, CacheMode::Max);
        let CacheLocation::Registry(reference) = location else { panic!("{location:?}") };
        assert_eq!(reference.to_string(), "localhost:5000/app:cache");
        assert_eq!(parse("mode=min, type=registry, ref=app").0.to_string(), "docker.io/library/app:latest");
        assert_eq!(parse("user/app:buildcache").0.to_string(), "docker.io/user/app:buildcache");
        assert_eq!(
            parse("type=registry,ref=r.example/app:c,oci-mediatypes=true,image-manifest=true").0.to_string(),
            "r.example/app:c"
        );
    }

    #[test]
    fn malformed_options_say_what_is_wrong() {
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason("type=gha,scope=x"), "unknown key `scope`: expected type, dest, src, ref, endpoint or mode");
        assert_eq!(reason("type=gha"), "cache type `gha` is not supported: expected local, registry or reapi");
        assert_eq!(reason("type=local"), "type=local needs dest=DIR or src=DIR");
        assert_eq!(reason("type=local,dest=a,src=b"), "give either dest or src, not both");
        assert_eq!(reason("type=registry"), "type=registry needs ref=REF");
        assert_eq!(reason("type=registry,ref=a,dest=b"), "dest and src are for type=local; a registry cache takes ref");
        assert_eq!(reason("type=local,dest=a,mode=all"), "mode `all`: expected min or max");
        assert_eq!(reason("type=local,dest=a,dest=b"), "`dest` is given twice");
        assert_eq!(reason("type=local,dest"), "`dest` is not key=value");
        assert_eq!(reason("dest=a"), "no type: expected type=local, type=registry or type=reapi");
        assert!(reason("type=registry,ref=UPPER/case").contains("UPPER"), "{}", reason("type=registry,ref=UPPER/case"));
        assert_eq!(reason("type=reapi"), "type=reapi needs endpoint=grpc://HOST:PORT");
        assert_eq!(
            reason("type=reapi,endpoint=http://h:1"),
            "endpoint `http://h:1`: expected grpc://HOST:PORT or grpcs://HOST:PORT"
        );
        assert_eq!(reason("type=local,dest=a,endpoint=grpc://h:1"), "`endpoint` is for type=reapi");
        assert_eq!(
            reason("type=reapi,endpoint=grpc://h:1,ignore-error=no"),
            "ignore-error `no`: expected true or false"
        );
    }

    #[test]
    fn a_reapi_cache_takes_an_endpoint_an_instance_and_ignore_error() {
        let (location, mode) =
            parse("type=reapi,endpoint=grpc://127.0.0.1:9092,instance=farm,mode=max,ignore-error=false");
        assert_eq!(mode, CacheMode::Max);
        let CacheLocation::Reapi(reapi) = &location else { panic!("{location:?}") };
        assert_eq!(
            (reapi.endpoint.as_str(), reapi.instance.as_str(), reapi.ignore_error),
            ("grpc://127.0.0.1:9092", "farm", false)
        );
        assert_eq!(location.to_string(), "grpc://127.0.0.1:9092");
        let (location, _) = parse("type=reapi,endpoint=grpc://cache:9092");
        let CacheLocation::Reapi(reapi) = location else { panic!("a reapi location") };
        assert!(reapi.ignore_error && reapi.instance.is_empty() && reapi.token.is_none());
    }
}
