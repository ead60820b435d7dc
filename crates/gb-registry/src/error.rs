//! The crate's error: what failed, naming the reference or registry, and whose fault it is.
//! No variant holds a credential, so neither a message nor `Debug` output can show one.

use std::io;
use std::path::PathBuf;

use gb_cache::CacheError;
use gb_export::ExportError;
use gb_ir::Sha256Digest;
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};

/// Who is to blame for a failure, so the CLI can map it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input: a reference or platform the registry does not have, missing or
    /// rejected credentials, a malformed Docker config file.
    Input,
    /// The machine: the local store, the config directory, a credential helper.
    Environment,
    /// The registry: unreachable, answering outside the protocol, serving content that does
    /// not match its digest.
    Registry,
    /// graphbuild itself.
    Bug,
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No connection to the registry (refused, timed out, no such host).
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable {
        /// `host[:port]`.
        registry: String,
        /// The innermost cause (`Connection refused (os error 111)`).
        reason: String,
    },
    /// The registry refused the request for lack of (valid) credentials.
    #[error("{}", unauthorized_message(action, reference, registry, *with_credentials))]
    Unauthorized {
        /// `pull`, `push to`, `log in to`.
        action: &'static str,
        /// The image (or the registry, for a login).
        reference: String,
        /// `host[:port]`.
        registry: String,
        /// Whether credentials were sent (and so were rejected).
        with_credentials: bool,
    },
    /// The registry has no such image or blob.
    #[error("{what} not found in registry {registry}")]
    NotFound {
        /// `image 127.0.0.1:5000/app:1`, `blob sha256:… of …`.
        what: String,
        /// `host[:port]`.
        registry: String,
    },
    /// An index without a manifest for the platform asked for.
    #[error("{reference} has no image for platform {platform}; it has {}", list_or_none(available))]
    NoMatchingPlatform {
        /// The image.
        reference: String,
        /// The platform asked for (`linux/arm64`).
        platform: String,
        /// The platforms it has.
        available: Vec<String>,
    },
    /// Content from the registry that does not hash to the digest it is named by.
    #[error("{what} of {reference} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// `layer blob`, `manifest`, `config`.
        what: String,
        /// The image.
        reference: String,
        /// The digest it should have.
        expected: Sha256Digest,
        /// The digest it has.
        actual: Sha256Digest,
    },
    /// A manifest, index or config that does not say what an image needs.
    #[error("invalid {what} for {reference}: {reason}")]
    InvalidContent {
        /// `manifest`, `index`, `config`.
        what: &'static str,
        /// The image.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Something valid that graphbuild does not handle (schema 1 manifests, nested indexes,
    /// digests other than sha256).
    #[error("unsupported {what} for {reference}: {reason}")]
    Unsupported {
        /// `manifest`, `index`, `digest`.
        what: &'static str,
        /// The image.
        reference: String,
        /// Why.
        reason: String,
    },
    /// A push target that does not fit the image (a digest other than its manifest's).
    #[error("cannot push to {reference}: {reason}")]
    InvalidTarget {
        /// The target reference.
        reference: String,
        /// Why.
        reason: String,
    },
    /// Any other answer outside the distribution protocol.
    #[error("registry {registry}: {message}")]
    Protocol {
        /// `host[:port]`.
        registry: String,
        /// What went wrong (status, URL, the registry's message).
        message: String,
    },
    /// The local content store or database failed.
    #[error("cannot {action}: {source}")]
    Store {
        /// What was being done (`store blob sha256:…`).
        action: String,
        /// What went wrong.
        #[source]
        source: CacheError,
    },
    /// Turning a pulled layer blob into a layer (or finding its layer) failed.
    #[error("cannot import {reference}: {source}")]
    Import {
        /// The image.
        reference: String,
        /// What went wrong (boxed: gb-export's error is large, and this one is returned often).
        #[source]
        source: Box<ExportError>,
    },
    /// Reading or writing the Docker config file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read`, `write`, `create`…
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// A Docker config file that is not what Docker writes.
    #[error("invalid Docker config file {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Credentials exist for the registry but cannot be used (a failing credential helper, an
    /// undecodable `auth` entry, an identity token).
    #[error("cannot get the credentials for {registry}: {reason}")]
    Credentials {
        /// `host[:port]`.
        registry: String,
        /// Why (never the credentials themselves).
        reason: String,
    },
    /// The HTTP client could not be set up, or a task failed; a bug or a broken host.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RegistryError {
    /// Whose fault the failure is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Unauthorized { .. }
            | RegistryError::NotFound { .. }
            | RegistryError::NoMatchingPlatform { .. }
            | RegistryError::InvalidTarget { .. }
            | RegistryError::Config { .. } => ErrorKind::Input,
            RegistryError::Unreachable { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::InvalidContent { .. }
            | RegistryError::Unsupported { .. }
            | RegistryError::Protocol { .. } => ErrorKind::Registry,
            RegistryError::Store { .. } | RegistryError::Io { .. } | RegistryError::Credentials { .. } => {
                ErrorKind::Environment
            }
            // Bad content in a blob is the registry's; a failing disk is ours.
            RegistryError::Import { source, .. } => match source.kind() {
                gb_export::ErrorKind::Input => ErrorKind::Registry,
                gb_export::ErrorKind::Environment => ErrorKind::Environment,
                gb_export::ErrorKind::Bug => ErrorKind::Bug,
            },
            RegistryError::Internal(_) => ErrorKind::Bug,
        }
    }

    /// For `map_err`: a store failure while doing `action`.
    pub(crate) fn store(action: impl Into<String>) -> impl FnOnce(CacheError) -> RegistryError {
        let action = action.into();
        move |source| RegistryError::Store { action, source }
    }
}

fn unauthorized_message(action: &str, reference: &str, registry: &str, with_credentials: bool) -> String {
    if with_credentials {
        format!("not authorized to {action} {reference}: registry {registry} rejected the stored credentials")
    } else {
        format!("not authorized to {action} {reference}: no credentials for registry {registry} (log in first)")
    }
}

fn list_or_none(platforms: &[String]) -> String {
    if platforms.is_empty() { "none".to_owned() } else { platforms.join(", ") }
}

/// What a request to the registry was for, to turn oci-client's errors into ours.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// `host[:port]`.
    pub(crate) registry: String,
    /// The image (or registry) the request is about, for messages.
    pub(crate) reference: String,
    /// `pull`, `push to`, `log in to`.
    pub(crate) action: &'static str,
    /// Whether credentials were sent.
    pub(crate) with_credentials: bool,
}

impl Request {
    /// Our error for `error`, met while fetching `what` (`image …`, `blob sha256:…`).
    pub(crate) fn error(&self, what: &str, error: OciDistributionError) -> RegistryError {
        match error {
            // reqwest is no direct dependency, so its error is only handled here, where its type
            // is inferred.
            OciDistributionError::RequestError(error) => {
                if error.is_connect() || error.is_timeout() {
                    let reason = if error.is_timeout() { "no answer in time".to_owned() } else { root_cause(&error) };
                    return RegistryError::Unreachable { registry: self.registry.clone(), reason };
                }
                match error.status().map(|status| status.as_u16()) {
                    Some(401 | 403) => self.unauthorized(),
                    Some(404) => self.not_found(what),
                    _ => self.protocol(format!("{what}: {}", chain(&error))),
                }
            }
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                self.unauthorized()
            }
            OciDistributionError::RegistryError { envelope, url } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|error| &error.code).collect();
                if codes.iter().any(|code| matches!(code, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                    self.unauthorized()
                } else if codes.iter().any(|code| {
                    matches!(
                        code,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    self.not_found(what)
                } else {
                    self.protocol(format!("{envelope} ({url})"))
                }
            }
            OciDistributionError::ServerError { code, url, message } => match code {
                401 | 403 => self.unauthorized(),
                404 => self.not_found(what),
                _ => self.protocol(format!("HTTP {code} from {url}: {}", message.trim())),
            },
            OciDistributionError::DigestError(error) => self.digest_error(what, &error),
            OciDistributionError::IoError(error) => self.io_error(what, error),
            other => self.protocol(other.to_string()),
        }
    }

    /// Our error for an error a blob stream yielded (a failed read, a failed verification).
    pub(crate) fn io_error(&self, what: &str, error: io::Error) -> RegistryError {
        if let Some(digest) = error.get_ref().and_then(|inner| inner.downcast_ref::<DigestError>()) {
            return self.digest_error(what, digest);
        }
        self.protocol(format!("reading {what}: {}", chain(&error)))
    }

    fn digest_error(&self, what: &str, error: &DigestError) -> RegistryError {
        if let DigestError::VerificationError { expected, actual } = error
            && let (Ok(expected), Ok(actual)) = (expected.parse(), actual.parse())
        {
            return RegistryError::DigestMismatch {
                what: what.to_owned(),
                reference: self.reference.clone(),
                expected,
                actual,
            };
        }
        self.protocol(format!("{what}: {error}"))
    }

    pub(crate) fn unauthorized(&self) -> RegistryError {
        RegistryError::Unauthorized {
            action: self.action,
            reference: self.reference.clone(),
            registry: self.registry.clone(),
            with_credentials: self.with_credentials,
        }
    }

    fn not_found(&self, what: &str) -> RegistryError {
        RegistryError::NotFound { what: what.to_owned(), registry: self.registry.clone() }
    }

    pub(crate) fn protocol(&self, message: String) -> RegistryError {
        RegistryError::Protocol { registry: self.registry.clone(), message }
    }
}

/// The innermost cause of an error: what the operating system said.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// An error and its causes, `: `-separated, without repeats.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut current = error.source();
    while let Some(source) = current {
        let text = source.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = source.source();
    }
    parts.join(": ")
}
