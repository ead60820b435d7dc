//! A real REAPI v2 server for the remote cache tests: BuildGrid 0.4.4 (installed from PyPI by
//! `scripts/install-deps.sh --test`) serving CAS, ActionCache, ByteStream and Capabilities from
//! memory, on a free loopback port; stopped (its whole process group, by PID) when dropped.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where `install-deps.sh --test` puts BuildGrid's virtual environment.
pub const BUILDGRID: &str = "/var/cache/graphbuild-test/buildgrid-0.4.4";

/// A running BuildGrid.
pub struct ReapiServer {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: TempDir,
    /// The CAS directory, for a server storing blobs on disk.
    disk: Option<std::path::PathBuf>,
    /// Whether it speaks TLS (`grpcs://`).
    tls: bool,
    /// The certificates of a TLS server and its clients, or a JWT secret, removed with it.
    certs: Option<TempDir>,
}

/// The PEM files of a TLS server's clients: the CA that signed the server's certificate, and a
/// client certificate and key the server accepts.
pub struct ClientTls {
    pub ca_cert: std::path::PathBuf,
    pub client_cert: std::path::PathBuf,
    pub client_key: std::path::PathBuf,
}

impl ReapiServer {
    /// Starts one keeping blobs in memory and waits until it accepts connections.
    pub fn start() -> Self {
        Self::launch(false, None)
    }

    /// Starts one keeping blobs on disk, where a test can tamper with them.
    pub fn start_on_disk() -> Self {
        Self::launch(true, None)
    }

    /// Starts one that accepts only calls bearing a JWT signed with its secret (BuildGrid's
    /// `jwt` authorization, HS256); returns it and a valid token, made by BuildGrid's own PyJWT.
    pub fn start_with_token() -> (Self, String) {
        let secret_dir = tempfile::tempdir().expect("secret");
        let secret = secret_dir.path().join("auth.secret");
        std::fs::write(&secret, "graphbuild-test-secret-5e1f").expect("write the secret");
        let python = Path::new(BUILDGRID).join("bin/python");
        let token = crate::tools::run(
            &python.display().to_string(),
            &[
                "-c",
                "import jwt,sys,time; print(jwt.encode({'sub': 'graphbuild', 'exp': int(time.time()) + 3600}, \
                 open(sys.argv[1]).read(), algorithm='HS256'))",
                &secret.display().to_string(),
            ],
        );
        let authorization =
            format!("authorization:\n  method: jwt\n  secret: {}\n  algorithm: hs256\n", secret.display());
        let mut server = Self::launch_with(false, None, Some(authorization));
        server.certs = Some(secret_dir);
        (server, token.trim().to_owned())
    }

    /// Starts one that speaks TLS only and requires a client certificate (mTLS), with a CA,
    /// server and client certificates made by openssl for the occasion.
    pub fn start_with_mtls() -> (Self, ClientTls) {
        crate::tools::require_tool("openssl", "openssl");
        let certs_dir = tempfile::tempdir().expect("certificates");
        let certs = certs_dir.path().to_owned();
        let sh = |script: &str| {
            let status = Command::new("sh").arg("-ec").arg(script).current_dir(&certs).status().expect("sh");
            assert!(status.success(), "{script}");
        };
        sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile server.ext 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=graphbuild 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\n' > client.ext
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1 -extfile client.ext 2>/dev/null");
        let credentials = format!(
            "    credentials:\n      tls-server-key: {0}/server.key\n      tls-server-cert: {0}/server.pem\n      \
             tls-client-certs: {0}/ca.pem\n",
            certs.display()
        );
        let mut server = Self::launch(false, Some(credentials));
        server.certs = Some(certs_dir);
        let client = ClientTls {
            ca_cert: certs.join("ca.pem"),
            client_cert: certs.join("client.pem"),
            client_key: certs.join("client.key"),
        };
        (server, client)
    }

    fn launch(on_disk: bool, tls: Option<String>) -> Self {
        Self::launch_with(on_disk, tls, None)
    }

    fn launch_with(on_disk: bool, tls: Option<String>, authorization: Option<String>) -> Self {
        let bgd = Path::new(BUILDGRID).join("bin/bgd");
        assert!(bgd.is_file(), "{} is missing: run scripts/install-deps.sh --test", bgd.display());
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        let disk = on_disk.then(|| dir.path().join("cas"));
        let storage = match &disk {
            Some(path) => format!("!disk-storage &cas\n    path: {}", path.display()),
            None => "!lru-storage &cas\n    size: 512M".to_owned(),
        };
        let channel = match &tls {
            Some(credentials) => format!("    insecure-mode: false\n{credentials}"),
            None => "    insecure-mode: true\n".to_owned(),
        };
        let authorization = authorization.unwrap_or_else(|| "authorization:\n  method: none\n".to_owned());
        let config = format!(
            "server:\n  - !channel\n    address: \"{addr}\"\n{channel}{authorization}\
             storages:\n  - {storage}\ncaches:\n  - !lru-action-cache &ac\n    storage: *cas\n    \
             max-cached-refs: 100000\n    allow-updates: true\n    cache-failed-actions: true\ninstances:\n  - name: \"\"\n    \
             services:\n      - !cas\n        storage: *cas\n      - !bytestream\n        storage: *cas\n      \
             - !action-cache\n        cache: *ac\nthread-pool-size: 10\n"
        );
        let config_path = dir.path().join("buildgrid.yml");
        std::fs::write(&config_path, config).expect("write the config");
        let log = std::fs::File::create(dir.path().join("buildgrid.log")).expect("log file");
        let child = Command::new(&bgd)
            .args(["server", "start"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start bgd");
        let mut server = ReapiServer { child, addr, dir, disk, tls: tls.is_some(), certs: None };
        server.wait_ready();
        server
    }

    /// `grpc://127.0.0.1:PORT` (`grpcs://` for a TLS server), as `--cache-to
    /// type=reapi,endpoint=` takes it.
    pub fn endpoint(&self) -> String {
        format!("{}://{}", if self.tls { "grpcs" } else { "grpc" }, self.addr)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("bgd exited with {status}: {}", self.log());
            }
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "bgd did not listen on {} in 60 s: {}", self.addr, self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("buildgrid.log")).unwrap_or_default()
    }

    /// Changes one byte in the middle of every gzip blob (the layers) of an on-disk server,
    /// keeping their names and sizes; returns how many it changed.
    pub fn tamper_layer_blobs(&self) -> usize {
        let disk = self.disk.as_ref().expect("a server started on disk");
        let mut changed = 0;
        for entry in walkdir::WalkDir::new(disk).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file())
        {
            let mut bytes = std::fs::read(entry.path()).expect("read a blob");
            if bytes.len() > 64 && bytes.starts_with(&[0x1f, 0x8b]) {
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::write(entry.path(), bytes).expect("write a blob");
                changed += 1;
            }
        }
        changed
    }

    /// Stops it now (a server gone mid-build); dropping it afterwards does nothing more.
    pub fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Drop for ReapiServer {
    fn drop(&mut self) {
        self.stop();
    }
}
