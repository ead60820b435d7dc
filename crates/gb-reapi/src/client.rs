//! The REAPI v2 calls the cache makes, over one gRPC channel: Capabilities, ActionCache
//! (Get/UpdateActionResult), ContentAddressableStorage (FindMissingBlobs, BatchUpdateBlobs)
//! and ByteStream (Read, Write) for blobs of any size.

use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream;
use std::io::Read as _;

use futures_util::StreamExt;
use gb_ir::Sha256Digest;
use re::action_cache_client::ActionCacheClient;
use re::capabilities_client::CapabilitiesClient;
use re::content_addressable_storage_client::ContentAddressableStorageClient;
use tonic::transport::Channel;

use crate::error::ReapiError;

/// A blob as REAPI names it: its sha256 and size.
pub(crate) fn digest_of(digest: &Sha256Digest, size: u64) -> re::Digest {
    re::Digest { hash: digest.hex(), size_bytes: i64::try_from(size).unwrap_or(i64::MAX) }
}

/// Runs a call, and again after a growing pause while the server says it is busy
/// (RESOURCE_EXHAUSTED, UNAVAILABLE): a farm's many builds can exceed a server's limit on
/// concurrent calls for a moment, which is no reason to leave the cache for the whole build.
async fn patiently<T, Call, Answer>(mut call: Call) -> Result<tonic::Response<T>, tonic::Status>
where
    Call: FnMut() -> Answer,
    Answer: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut pause = Duration::from_millis(50);
    for _ in 0..BUSY_RETRIES {
        match call().await {
            Err(status) if matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::Unavailable) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            answer => return answer,
        }
    }
    call().await
}

/// How many times a call the server was too busy for is tried again.
const BUSY_RETRIES: u32 = 5;

/// A status as one line: its message, and the innermost cause of a transport failure
/// (`tcp connect error: Connection refused (os error 111)`).
pub(crate) fn status_message(status: &tonic::Status) -> String {
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(status);
    let mut innermost = None;
    while let Some(error) = cause {
        innermost = Some(error.to_string());
        cause = error.source();
    }
    match innermost {
        Some(inner) if !status.message().contains(&inner) => format!("{}: {inner}", status.message()),
        _ => status.message().to_owned(),
    }
}

/// Blobs up to this size go in one BatchUpdateBlobs call with others; larger ones over
/// ByteStream (servers cap a batch at a few MiB: BuildGrid at 4 MiB).
const BATCH_LIMIT: u64 = 1 << 20;

/// ByteStream writes send this much per message.
const CHUNK: usize = 1 << 20;

/// A blob to upload: bytes made here, or a file of the content store.
pub(crate) enum Upload {
    Bytes(Vec<u8>),
    File(std::path::PathBuf),
}

/// Where the cache is and how to reach it.
#[derive(Clone)]
pub struct Endpoint {
    /// `grpc://HOST:PORT` (plain HTTP/2) or `grpcs://HOST:PORT` (TLS) as the user wrote it
    /// (printed in messages; it holds no secret).
    pub url: String,
    /// The REAPI instance name (`""` for the default instance).
    pub instance: String,
    /// A bearer token sent with every call (`config.toml`), never printed.
    pub token: Option<String>,
    /// For `grpcs://`: a CA certificate (PEM) to trust besides the system's, and a client
    /// certificate and key (PEM) for servers that ask for one (mTLS).
    pub ca_cert: Option<std::path::PathBuf>,
    /// The client certificate (PEM).
    pub client_cert: Option<std::path::PathBuf>,
    /// The client certificate's key (PEM).
    pub client_key: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("instance", &self.instance)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The channel's endpoint: its address, timeouts and, for `grpcs://`, TLS.
    fn channel(&self) -> Result<tonic::transport::Endpoint, ReapiError> {
        let wrong = || ReapiError::Endpoint(self.url.clone());
        let (address, tls) = match (self.url.strip_prefix("grpc://"), self.url.strip_prefix("grpcs://")) {
            (Some(rest), _) => (format!("http://{rest}"), false),
            (_, Some(rest)) => (format!("https://{rest}"), true),
            _ => return Err(wrong()),
        };
        let endpoint = tonic::transport::Endpoint::from_shared(address)
            .map_err(|_| wrong())?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(60));
        if !tls {
            return Ok(endpoint);
        }
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|source| ReapiError::Tls {
                endpoint: self.url.clone(),
                file: path.to_owned(),
                source,
            })
        };
        let mut config = tonic::transport::ClientTlsConfig::new().with_native_roots();
        if let Some(ca) = &self.ca_cert {
            config = config.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            config = config.identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
        }
        endpoint.tls_config(config).map_err(|source| ReapiError::Unreachable { endpoint: self.url.clone(), source })
    }
}

/// A connected client.
#[derive(Clone)]
pub(crate) struct Client {
    channel: Channel,
    endpoint: Endpoint,
}

impl Client {
    /// Connects to `endpoint` and checks it can serve as the cache.
    pub(crate) async fn connect(endpoint: Endpoint) -> Result<Self, ReapiError> {
        let channel = endpoint
            .channel()?
            .connect()
            .await
            .map_err(|source| ReapiError::Unreachable { endpoint: endpoint.url.clone(), source })?;
        let client = Client { channel, endpoint };
        client.check_capabilities().await?;
        Ok(client)
    }

    /// A request carrying the bearer token, when there is one.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = &self.endpoint.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    fn call_failed(&self, call: &'static str) -> impl Fn(tonic::Status) -> ReapiError + '_ {
        move |status| ReapiError::Call { endpoint: self.endpoint.url.clone(), call, message: status_message(&status) }
    }

    /// The server must keep sha256 blobs and accept action results.
    async fn check_capabilities(&self) -> Result<(), ReapiError> {
        let request = re::GetCapabilitiesRequest { instance_name: self.endpoint.instance.clone() };
        let capabilities = CapabilitiesClient::new(self.channel.clone())
            .get_capabilities(self.request(request))
            .await
            .map_err(self.call_failed("GetCapabilities"))?
            .into_inner();
        let cache = capabilities.cache_capabilities.unwrap_or_default();
        let sha256 = re::digest_function::Value::Sha256 as i32;
        if !cache.digest_functions.is_empty() && !cache.digest_functions.contains(&sha256) {
            return Err(ReapiError::Unsuitable { endpoint: self.endpoint.url.clone(), what: "sha256 digests" });
        }
        if cache.action_cache_update_capabilities.is_some_and(|update| !update.update_enabled) {
            return Err(ReapiError::Unsuitable { endpoint: self.endpoint.url.clone(), what: "action cache updates" });
        }
        Ok(())
    }

    /// The action result under `action`; `None` for a miss (NOT_FOUND).
    pub(crate) async fn action_result(&self, action: &re::Digest) -> Result<Option<re::ActionResult>, ReapiError> {
        let request = re::GetActionResultRequest {
            instance_name: self.endpoint.instance.clone(),
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let call = || {
            let (mut client, request) = (ActionCacheClient::new(self.channel.clone()), self.request(request.clone()));
            async move { client.get_action_result(request).await }
        };
        match patiently(call).await {
            Ok(result) => Ok(Some(result.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(self.call_failed("GetActionResult")(status)),
        }
    }

    /// Stores `result` under `action` (its blobs must be in the CAS already).
    pub(crate) async fn update_action_result(
        &self,
        action: &re::Digest,
        result: re::ActionResult,
    ) -> Result<(), ReapiError> {
        let request = re::UpdateActionResultRequest {
            instance_name: self.endpoint.instance.clone(),
            action_digest: Some(action.clone()),
            action_result: Some(result),
            ..Default::default()
        };
        let call = || {
            let (mut client, request) = (ActionCacheClient::new(self.channel.clone()), self.request(request.clone()));
            async move { client.update_action_result(request).await }
        };
        patiently(call).await.map_err(self.call_failed("UpdateActionResult"))?;
        Ok(())
    }

    /// Which of `digests` the CAS lacks.
    pub(crate) async fn find_missing(&self, digests: Vec<re::Digest>) -> Result<Vec<re::Digest>, ReapiError> {
        let request = re::FindMissingBlobsRequest {
            instance_name: self.endpoint.instance.clone(),
            blob_digests: digests,
            ..Default::default()
        };
        let call = || {
            let (mut client, request) =
                (ContentAddressableStorageClient::new(self.channel.clone()), self.request(request.clone()));
            async move { client.find_missing_blobs(request).await }
        };
        Ok(patiently(call).await.map_err(self.call_failed("FindMissingBlobs"))?.into_inner().missing_blob_digests)
    }

    /// Uploads small blobs in one call.
    pub(crate) async fn upload_small(&self, blobs: Vec<(re::Digest, Vec<u8>)>) -> Result<(), ReapiError> {
        if blobs.is_empty() {
            return Ok(());
        }
        let requests = blobs
            .into_iter()
            .map(|(digest, data)| re::batch_update_blobs_request::Request {
                digest: Some(digest),
                data,
                ..Default::default()
            })
            .collect();
        let request = re::BatchUpdateBlobsRequest {
            instance_name: self.endpoint.instance.clone(),
            requests,
            ..Default::default()
        };
        let call = || {
            let (mut client, request) =
                (ContentAddressableStorageClient::new(self.channel.clone()), self.request(request.clone()));
            async move { client.batch_update_blobs(request).await }
        };
        let response = patiently(call).await.map_err(self.call_failed("BatchUpdateBlobs"))?.into_inner();
        match response.responses.iter().find(|r| r.status.as_ref().is_some_and(|s| s.code != 0)) {
            Some(failed) => Err(ReapiError::Refused {
                endpoint: self.endpoint.url.clone(),
                blob: failed.digest.as_ref().map(|d| d.hash.clone()).unwrap_or_default(),
                message: failed.status.as_ref().map(|s| s.message.clone()).unwrap_or_default(),
            }),
            None => Ok(()),
        }
    }

    /// Uploads one blob over ByteStream, in chunks read as they are sent (a layer of hundreds of
    /// megabytes is never held in memory).
    async fn upload_large(&self, digest: &re::Digest, blob: Upload) -> Result<(), ReapiError> {
        let upload = gb_cache::LayerId::random();
        let resource = format!("{}uploads/{}/blobs/{}/{}", self.prefix(), upload.0, digest.hash, digest.size_bytes);
        let total = u64::try_from(digest.size_bytes).unwrap_or(0);
        let reader: Box<dyn std::io::Read + Send> = match blob {
            Upload::Bytes(bytes) => Box::new(std::io::Cursor::new(bytes)),
            Upload::File(path) => Box::new(
                std::fs::File::open(&path).map_err(|source| ReapiError::Local { action: "reading a blob", source })?,
            ),
        };
        // Each message: the next chunk, the resource named in the first, the last finishing.
        let chunks = futures_util::stream::unfold((reader, 0u64, false), move |(mut reader, offset, done)| {
            let resource = resource.clone();
            async move {
                if done {
                    return None;
                }
                let mut data = vec![0; CHUNK];
                let mut filled = 0;
                while filled < CHUNK {
                    match reader.read(&mut data[filled..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => filled += n,
                    }
                }
                data.truncate(filled);
                let next = offset + filled as u64;
                let finish = next >= total || filled < CHUNK;
                let message = bytestream::WriteRequest {
                    resource_name: if offset == 0 { resource } else { String::new() },
                    write_offset: i64::try_from(offset).unwrap_or(i64::MAX),
                    finish_write: finish,
                    data,
                };
                Some((message, (reader, next, finish)))
            }
        });
        let response = bytestream::byte_stream_client::ByteStreamClient::new(self.channel.clone())
            .write(self.request(chunks))
            .await
            .map_err(self.call_failed("ByteStream.Write"))?
            .into_inner();
        if u64::try_from(response.committed_size).unwrap_or(0) != total {
            return Err(ReapiError::Refused {
                endpoint: self.endpoint.url.clone(),
                blob: digest.hash.clone(),
                message: format!("committed {} of {total} bytes", response.committed_size),
            });
        }
        Ok(())
    }

    /// Uploads `blobs` the CAS lacks: small ones in one batch, large ones over ByteStream.
    /// Returns how many bytes were sent.
    pub(crate) async fn upload_missing(&self, blobs: Vec<(re::Digest, Upload)>) -> Result<u64, ReapiError> {
        let missing = self.find_missing(blobs.iter().map(|(digest, _)| digest.clone()).collect()).await?;
        let mut uploaded = 0;
        let mut small = Vec::new();
        for (digest, blob) in blobs.into_iter().filter(|(digest, _)| missing.contains(digest)) {
            let size = u64::try_from(digest.size_bytes).unwrap_or(0);
            uploaded += size;
            match blob {
                blob if size > BATCH_LIMIT => self.upload_large(&digest, blob).await?,
                Upload::Bytes(bytes) => small.push((digest, bytes)),
                Upload::File(path) => small.push((
                    digest,
                    std::fs::read(&path).map_err(|source| ReapiError::Local { action: "reading a blob", source })?,
                )),
            }
        }
        self.upload_small(small).await?;
        Ok(uploaded)
    }

    /// Reads a blob over ByteStream into `sink`, returning how many bytes came.
    pub(crate) async fn read(
        &self,
        digest: &re::Digest,
        sink: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, ReapiError> {
        let request = bytestream::ReadRequest {
            resource_name: format!("{}blobs/{}/{}", self.prefix(), digest.hash, digest.size_bytes),
            read_offset: 0,
            read_limit: 0,
        };
        let mut stream = bytestream::byte_stream_client::ByteStreamClient::new(self.channel.clone())
            .read(self.request(request))
            .await
            .map_err(self.call_failed("ByteStream.Read"))?
            .into_inner();
        let mut read = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.call_failed("ByteStream.Read"))?;
            sink.write_all(&chunk.data).map_err(|source| ReapiError::Local { action: "writing a blob", source })?;
            read += chunk.data.len() as u64;
        }
        Ok(read)
    }

    /// The resource-name prefix of the instance (`NAME/`, or nothing for the default one).
    fn prefix(&self) -> String {
        match self.endpoint.instance.as_str() {
            "" => String::new(),
            name => format!("{name}/"),
        }
    }
}
