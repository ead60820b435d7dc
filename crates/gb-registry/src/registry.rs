//! [`Registry`]: one oci-client `Client` per registry host, with that host's credentials and
//! scheme, reused while the credentials stay the same; and login verification.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use gb_ir::ImageReference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::config::RegistryConfig;
use crate::credentials::credentials;
use crate::error::{RegistryError, Request};

/// How long connecting may take: an unreachable registry should fail a build quickly.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a registry may stay silent in the middle of an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A client for OCI registries: pulls into and pushes from the local store.
pub struct Registry {
    pub(crate) config: RegistryConfig,
    /// Per registry host: the client and the credentials it was made with.
    sessions: Mutex<HashMap<String, Session>>,
}

impl fmt::Debug for Registry {
    // Sessions hold credentials; only the configuration is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A client for one registry host and the credentials it sends there.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) auth: RegistryAuth,
    pub(crate) registry: String,
}

impl Session {
    /// What a request about `reference` is, for turning its errors into ours.
    pub(crate) fn request(&self, reference: impl fmt::Display, action: &'static str) -> Request {
        Request {
            registry: self.registry.clone(),
            reference: reference.to_string(),
            action,
            with_credentials: self.auth != RegistryAuth::Anonymous,
        }
    }

    /// Authenticates for `operation` on `reference` (fetching a token where the registry uses
    /// them). Done first, so an unreachable registry or refused credentials fail at once instead
    /// of on every request.
    pub(crate) async fn authenticate(
        &self,
        reference: &Reference,
        operation: RegistryOperation,
        request: &Request,
    ) -> Result<(), RegistryError> {
        self.client
            .auth(reference, &self.auth, operation)
            .await
            .map(drop)
            .map_err(|error| request.error(&format!("registry {}", self.registry), error))
    }
}

impl Registry {
    /// A registry client with `config`.
    pub fn new(config: RegistryConfig) -> Result<Self, RegistryError> {
        // oci-client's TLS is rustls without a built-in provider; ring is the one we build. An
        // error means a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Registry { config, sessions: Mutex::new(HashMap::new()) })
    }

    /// The session for `registry`, with the credentials the Docker config file has for it now.
    pub(crate) async fn session(&self, registry: &str) -> Result<Session, RegistryError> {
        let dir = self.config.docker_config_dir.clone();
        let host = registry.to_owned();
        // A credential helper is a program; it must not hold up the runtime's thread.
        let found = tokio::task::spawn_blocking(move || credentials(dir.as_deref(), &host))
            .await
            .map_err(|error| RegistryError::Internal(format!("credential lookup task: {error}")))??;
        let auth = match found {
            Some((username, password)) => RegistryAuth::Basic(username, password),
            None => RegistryAuth::Anonymous,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = sessions.get(registry).filter(|session| session.auth == auth) {
            return Ok(session.clone());
        }
        // oci-client keeps the first credentials it is given per registry, so new credentials
        // need a new client.
        let session = Session { client: self.client(registry)?, auth, registry: registry.to_owned() };
        sessions.insert(registry.to_owned(), session.clone());
        Ok(session)
    }

    /// A new client for `registry`.
    pub(crate) fn client(&self, registry: &str) -> Result<Client, RegistryError> {
        let protocol = if self.config.is_insecure(registry) { ClientProtocol::Http } else { ClientProtocol::Https };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            // Blobs are pushed in one request each; pulls choose platforms themselves.
            use_monolithic_push: true,
            platform_resolver: None,
            ..ClientConfig::default()
        };
        Client::try_from(config)
            .map_err(|error| RegistryError::Internal(format!("cannot set up an HTTP client: {error}")))
    }

    /// Checks `username` and `password` against `registry` (`host[:port]`) without storing
    /// them: a token request where the registry hands out tokens, else an authenticated
    /// request to its API. Fails with [`RegistryError::Unauthorized`] when they are refused.
    pub async fn verify_login(&self, registry: &str, username: &str, password: &str) -> Result<(), RegistryError> {
        let session = Session {
            client: self.client(registry)?,
            auth: RegistryAuth::Basic(username.to_owned(), password.to_owned()),
            registry: registry.to_owned(),
        };
        let request = session.request(format!("registry {registry}"), "log in to");
        // Any repository will do: a token server checks the credentials before the scope.
        let reference =
            Reference::with_tag(registry.to_owned(), "library/graphbuild-login".to_owned(), "latest".into());
        let token = session
            .client
            .auth(&reference, &session.auth, RegistryOperation::Pull)
            .await
            .map_err(|error| request.error(&format!("registry {registry}"), error))?;
        if token.is_some() {
            return Ok(());
        }
        // A registry with basic authentication (or none) answers every API request; only a 401
        // means the credentials are wrong. The catalog may well be disabled or forbidden, which
        // says nothing against them.
        match session.client.catalog(&reference, &session.auth, Some(1), None).await {
            Ok(_) => Ok(()),
            Err(error) => match request.error("the catalog", error) {
                unauthorized @ RegistryError::Unauthorized { .. } => Err(unauthorized),
                unreachable @ RegistryError::Unreachable { .. } => Err(unreachable),
                _ => Ok(()),
            },
        }
    }
}

/// oci-client's form of a reference: the digest when there is one, else the tag.
pub(crate) fn oci_reference(reference: &ImageReference) -> Reference {
    match (&reference.digest, &reference.tag) {
        (Some(digest), _) => {
            Reference::with_digest(reference.registry.clone(), reference.repository.clone(), digest.to_string())
        }
        (None, tag) => Reference::with_tag(
            reference.registry.clone(),
            reference.repository.clone(),
            tag.clone().unwrap_or_else(|| "latest".to_owned()),
        ),
    }
}

/// Runs blocking work (decompressing and unpacking a layer) off the runtime's scheduling: on a
/// multi-threaded runtime the thread hands its other tasks (running downloads) to other
/// threads first; on a current-thread runtime there is nobody to hand them to.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
