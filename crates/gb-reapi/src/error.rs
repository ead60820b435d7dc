//! What can go wrong with a REAPI cache. None of it fails a build unless the user asked
//! (`ignore-error=false`): the build goes on locally.

/// A REAPI cache failure.
#[derive(Debug, thiserror::Error)]
pub enum ReapiError {
    /// The endpoint is not `grpc://HOST:PORT` or `grpcs://HOST:PORT`.
    #[error("{0}: expected grpc://HOST:PORT or grpcs://HOST:PORT")]
    Endpoint(String),
    /// A TLS file could not be read.
    #[error("{endpoint}: reading {}", file.display())]
    Tls {
        endpoint: String,
        file: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No connection.
    #[error("{endpoint} is unreachable")]
    Unreachable {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// A call failed: the status's message and, for a transport failure, its cause.
    #[error("{endpoint}: {call} failed: {message}")]
    Call { endpoint: String, call: &'static str, message: String },
    /// The server cannot serve as this cache.
    #[error("{endpoint} does not offer {what}")]
    Unsuitable { endpoint: String, what: &'static str },
    /// The server refused a blob.
    #[error("{endpoint} refused blob {blob}: {message}")]
    Refused { endpoint: String, blob: String, message: String },
    /// What the cache held is not what its digests say (a tampered or corrupt blob).
    #[error("{endpoint}: {what}")]
    Corrupt { endpoint: String, what: String },
    /// The local store failed.
    #[error("{action}")]
    Local {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The local store failed.
    #[error("{action}")]
    Store {
        action: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ReapiError {
    /// A failure of the local store while doing `action`, as a `map_err` argument.
    pub(crate) fn store<E: std::error::Error + Send + Sync + 'static>(
        action: impl Into<String>,
    ) -> impl FnOnce(E) -> Self {
        let action = action.into();
        move |source| ReapiError::Store { action, source: Box::new(source) }
    }
}
