//! Real S3-compatible servers on free loopback ports: moto (AWS behaviour:
//! conditional writes, versions, Glacier) and rclone `serve s3` (checks SigV4
//! signatures, keeps data on disk). Installed by `scripts/install-tools.sh`.
//!
//! Each server runs under [`Guarded`] (it stops the server when this
//! process exits, for any reason, so no test run leaves servers behind) and
//! starts through [`launch`]: a server that does not come up is reported
//! with its command line, exit status and log.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::process::{launch, Guarded, Ready, ServerCommand};

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
    /// Stops the server when dropped.
    _guard: Guarded,
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

pub(crate) fn free_port() -> u16 {
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

/// Start `program args...` under the guard, logging to `dir/server.log`;
/// the guard removes `dir` once the server has stopped. Ready when its port
/// accepts a connection; if it exits first (the port was taken), it starts
/// again on another.
fn start_guarded(
    kind: ServerKind,
    program: &Path,
    args: impl Fn(u16) -> Vec<String>,
    dir: &Path,
    envs: &[(&str, String)],
) -> (Guarded, u16) {
    let log = dir.join("server.log");
    launch(kind.name(), 3, Duration::from_secs(60), |attempt| {
        let port = free_port();
        let args = args(port);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let guard = Guarded::spawn(&ServerCommand {
            name: &format!("{}-{attempt}", kind.name()),
            program,
            args: &args,
            envs,
            log: &log,
            own_log: None,
            signal: "TERM",
            cleanup: Some(dir),
            as_db_user: false,
        });
        let ready = move || TcpStream::connect(("127.0.0.1", port)).is_ok();
        (guard, port, Box::new(ready) as Ready)
    })
}

pub fn start(kind: ServerKind) -> S3Server {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("archive-desk-{}-", kind.name()))
        .tempdir()
        .expect("temp dir")
        // The guard removes it when the server stops (statics are never dropped).
        .keep();
    let ((guard, port), access_key_id, secret_access_key, data_dir) = match kind {
        ServerKind::Moto => {
            // moto's own server, made atomic for conditional writes (see the script).
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/servers/moto_atomic.py");
            let started = start_guarded(
                kind,
                &tool("python"),
                |port| vec![script.to_owned(), "127.0.0.1".to_owned(), port.to_string()],
                &tmp,
                &[],
            );
            // moto accepts any credentials.
            (started, "moto-test-key".to_owned(), format!("moto-{}", token()), None)
        }
        ServerKind::Rclone => {
            let data = tmp.join("data");
            std::fs::create_dir_all(&data).expect("rclone data dir");
            let (id, secret) = (format!("AKID{}", token()), format!("s{}{}", token(), token()));
            let auth = format!("{id},{secret}");
            let data_arg = data.to_str().expect("utf-8 temp path").to_owned();
            let started = start_guarded(
                kind,
                &tool("rclone"),
                |port| {
                    [
                        "serve",
                        "s3",
                        "--auth-key",
                        &auth,
                        "--addr",
                        &format!("127.0.0.1:{port}"),
                        &data_arg,
                    ]
                    .map(str::to_owned)
                    .to_vec()
                },
                &tmp,
                &[("RCLONE_CONFIG", "/dev/null".to_owned())],
            );
            (started, id, secret, Some(data))
        }
    };
    S3Server {
        kind,
        endpoint: format!("http://127.0.0.1:{port}"),
        access_key_id,
        secret_access_key,
        data_dir,
        _guard: guard,
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
