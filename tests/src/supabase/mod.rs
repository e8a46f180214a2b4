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
//! Files: this one (projects, restore targets, keys), `cluster.rs` (the
//! PostgreSQL clusters, TLS certificates, psql), `gateway.rs` (nginx's
//! configuration, PostgREST's binary, readiness checks). Every server runs
//! under [`crate::process::Guarded`] and starts through
//! [`crate::process::launch`], so none outlives the test process and a
//! server that does not come up is reported with its command and log.

mod cluster;
mod gateway;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use archive_desk_core::profile::RestoreMode;
use archive_desk_core::restore::{Tables, Target};
use archive_desk_core::Secret;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::process::{launch, Guarded, Ready, ServerCommand};
use crate::servers::{free_port, token};
use cluster::cluster;
pub use cluster::{tls_postgres, TlsPostgres};
use gateway::{http_get, nginx_conf, postgrest_bin, GatewayKeys, NGINX};

/// The chat app's schema: roles, tables, RLS, grants.
pub const SCHEMA_SQL: &str = include_str!("../../supabase/schema.sql");
/// `public.restore_archived_conversation`: the two-argument form `(archive jsonb, options jsonb)`, the one-argument form `(payload jsonb)`, and `restore_archived_conversation_v3(jsonb)`, the two-argument form taking the request body whole.
pub const RESTORE_FUNCTION_SQL: &str = include_str!("../../../sql/restore_archived_conversation.sql");

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

/// Supabase's default "max rows" (API settings).
const SUPABASE_MAX_ROWS: u32 = 1000;

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
        Self::start_with_max_rows(sql, SUPABASE_MAX_ROWS)
    }

    /// Like [`Self::start_with`], with PostgREST answering a read with at
    /// most `max_rows` rows (a project's "max rows" API setting).
    pub fn start_with_max_rows(sql: &str, max_rows: u32) -> SupabaseStack {
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
        let (postgrest, rest_port) = launch("PostgREST", ATTEMPTS, STARTUP_TIMEOUT, |attempt| {
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
                ("PGRST_DB_MAX_ROWS", max_rows.to_string()),
                ("PGRST_LOG_LEVEL", "info".to_owned()),
            ];
            let guard = Guarded::spawn(&ServerCommand {
                name: &format!("postgrest-{attempt}"),
                program: &postgrest_bin(),
                args: &[],
                envs: &envs,
                log: &postgrest_log,
                own_log: None,
                signal: "TERM",
                cleanup: None,
                as_db_user: false,
            });
            let ready = move || matches!(http_get(admin_port, "/ready", &[]), Some((200, _)));
            (guard, rest_port, Box::new(ready) as Ready)
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
        let (gateway, port) = launch("nginx", ATTEMPTS, STARTUP_TIMEOUT, |attempt| {
            let port = free_port();
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, nginx_conf(&dir, port, rest_port, &keys)).expect("nginx.conf");
            let guard = Guarded::spawn(&ServerCommand {
                name: &format!("nginx-{attempt}"),
                program: Path::new(NGINX),
                args: &[
                    "-p",
                    path_str(&dir),
                    "-c",
                    path_str(&conf),
                    "-e",
                    path_str(&gateway_log),
                ],
                envs: &[],
                log: &dir.join("nginx.out"),
                own_log: Some(&gateway_log),
                signal: "TERM",
                cleanup: Some(&dir),
                as_db_user: false,
            });
            let headers = [
                ("apikey", service_key.clone()),
                ("Authorization", format!("Bearer {service_key}")),
            ];
            let ready = move || matches!(http_get(port, "/rest/v1/", &headers), Some((200, _)));
            (guard, port, Box::new(ready) as Ready)
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

    /// The rows conversation `id` has: (in `conversations`, in `messages`).
    pub fn rows_of(&self, id: &str) -> (u64, u64) {
        let out = self.psql(&format!(
            "select (select count(*) from conversations where id = '{id}'), \
             (select count(*) from messages where conversation_id = '{id}')"
        ));
        let (conversations, messages) = out.split_once('|').expect("two counts");
        (
            conversations.parse().expect("a count"),
            messages.parse().expect("a count"),
        )
    }

    /// psql on this project's database as the superuser, SQL from stdin,
    /// for a session the test keeps open (e.g. one that holds a lock).
    pub fn psql_command(&self) -> std::process::Command {
        cluster().psql_command(&self.database)
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

    /// Each way to restore into this project, named as a report names it:
    /// plain REST (the service key), the RPC function (the secret key),
    /// Postgres.
    pub fn every_target(&self) -> [(&'static str, Target); 3] {
        [
            ("rest", rest_target(&self.url, &self.service_key, None)),
            (
                "rest-rpc",
                rest_target(&self.url, &self.secret_key, Some("restore_archived_conversation")),
            ),
            ("postgres", self.postgres_target()),
        ]
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

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

pub(super) fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}
