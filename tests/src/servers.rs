//! Real S3-compatible servers on free loopback ports: moto (AWS behaviour:
//! conditional writes, versions, Glacier) and rclone `serve s3` (checks SigV4
//! signatures, keeps data on disk). Installed by `scripts/install-tools.sh`.
//!
//! Each server runs under a small `sh` guard that reads our stdin: when this
//! process exits, for any reason, the pipe closes and the guard kills the
//! server, so no test run leaves servers behind.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use archive_desk_core::{CredentialSource, Secret, StoreConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    Moto,
    Rclone,
}

impl ServerKind {
    pub const ALL: [ServerKind; 2] = [ServerKind::Moto, ServerKind::Rclone];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Moto => "moto",
            ServerKind::Rclone => "rclone",
        }
    }

    /// Whether the server keeps storage classes (GLACIER, DEEP_ARCHIVE).
    pub fn keeps_storage_class(self) -> bool {
        self == ServerKind::Moto
    }
}

/// A running server. Dropping it (or exiting) stops it.
pub struct S3Server {
    pub kind: ServerKind,
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// rclone's data directory (buckets are folders in it).
    pub data_dir: Option<PathBuf>,
    guard: Child,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // Closing the guard's stdin makes it kill the server.
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}

impl S3Server {
    /// A store config for `bucket` on this server.
    pub fn store_config(&self, bucket: &str) -> StoreConfig {
        let mut config = StoreConfig::new(bucket);
        config.endpoint = Some(self.endpoint.clone());
        config.region = Some("us-east-1".into());
        config.force_path_style = true;
        config.credentials = CredentialSource::Static {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: Secret::new(self.secret_access_key.clone()),
        };
        crate::raw_s3::register(&config);
        config
    }

    /// Environment for a child process (the CLI) that should reach this
    /// server through the standard AWS variables and nothing else.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

/// Where `scripts/install-tools.sh` put the servers.
pub fn tools_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ARCHIVE_DESK_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    Path::new(&home).join(".cache/archive-desk/tools")
}

fn tool(name: &str) -> PathBuf {
    let path = tools_dir().join("venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-tools.sh (or set ARCHIVE_DESK_TOOLS)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A process-unique random-ish token (no extra crate for randomness).
pub fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Start `program args...` under the stdin guard, logging to `dir/server.log`;
/// the guard removes `dir` once the server has stopped.
fn spawn_guarded(program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"dir="$1"; shift; "$@" </dev/null >"$dir/server.log" 2>&1 & pid=$!; trap 'kill $pid 2>/dev/null; wait $pid; rm -rf "$dir"' EXIT; cat >/dev/null"#)
        .arg("sh")
        .arg(dir)
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("sh starts")
}

fn wait_ready(port: u16, log: &Path, kind: ServerKind) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!(
        "{} did not start on port {port} within 60 s; its log:\n{log}",
        kind.name()
    );
}

pub fn start(kind: ServerKind) -> S3Server {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("archive-desk-{}-", kind.name()))
        .tempdir()
        .expect("temp dir")
        // The guard removes it when the server stops (statics are never dropped).
        .keep();
    let port = free_port();
    let log = tmp.join("server.log");
    let (guard, access_key_id, secret_access_key, data_dir) = match kind {
        ServerKind::Moto => {
            // moto's own server, made atomic for conditional writes (see the script).
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/servers/moto_atomic.py");
            let guard = spawn_guarded(&tool("python"), &[script, "127.0.0.1", &port.to_string()], &tmp, &[]);
            // moto accepts any credentials.
            (guard, "moto-test-key".to_owned(), format!("moto-{}", token()), None)
        }
        ServerKind::Rclone => {
            let data = tmp.join("data");
            std::fs::create_dir_all(&data).expect("rclone data dir");
            let (id, secret) = (format!("AKID{}", token()), format!("s{}{}", token(), token()));
            let auth = format!("{id},{secret}");
            let guard = spawn_guarded(
                &tool("rclone"),
                &[
                    "serve",
                    "s3",
                    "--auth-key",
                    &auth,
                    "--addr",
                    &format!("127.0.0.1:{port}"),
                    data.to_str().expect("utf-8 temp path"),
                ],
                &tmp,
                &[("RCLONE_CONFIG", "/dev/null")],
            );
            (guard, id, secret, Some(data))
        }
    };
    wait_ready(port, &log, kind);
    S3Server {
        kind,
        endpoint: format!("http://127.0.0.1:{port}"),
        access_key_id,
        secret_access_key,
        data_dir,
        guard,
    }
}

/// One server of each kind per test process, started on first use.
pub fn shared(kind: ServerKind) -> &'static S3Server {
    static MOTO: OnceLock<S3Server> = OnceLock::new();
    static RCLONE: OnceLock<S3Server> = OnceLock::new();
    let cell = match kind {
        ServerKind::Moto => &MOTO,
        ServerKind::Rclone => &RCLONE,
    };
    cell.get_or_init(|| {
        let server = start(kind);
        let _ = writeln!(std::io::stderr(), "started {} at {}", kind.name(), server.endpoint);
        server
    })
}
