//! The private PostgreSQL clusters: the main one (TLS off) with the
//! template database every project copies, and the TLS one with a
//! certificate from a CA this process makes. `psql` runs SQL in them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::{is_root, path_str, RESTORE_FUNCTION_SQL, SCHEMA_SQL, SUPERUSER, TEMPLATE_DB};
use super::{ATTEMPTS, STARTUP_TIMEOUT};
use crate::process::{self, launch, run, Guarded, Ready, ServerCommand};
use crate::servers::{free_port, token};

pub(super) struct Cluster {
    pub(super) port: u16,
    /// The CA of the server's certificate, when TLS is on.
    ca_file: Option<PathBuf>,
    /// The superuser's password.
    pub(super) password: String,
    pub(super) authenticator_password: String,
    pub(super) create_lock: Mutex<()>,
    _guard: Guarded,
}

pub(super) fn cluster() -> &'static Cluster {
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
    let (guard, port) = launch("PostgreSQL", ATTEMPTS, STARTUP_TIMEOUT, |attempt| {
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
        let guard = Guarded::spawn(&ServerCommand {
            name: &format!("postgres-{attempt}"),
            program: &pg_bin("postgres"),
            args: &args,
            envs: &[],
            log: &log,
            own_log: None,
            // Fast shutdown: the smart one (TERM) waits for every client.
            signal: "INT",
            cleanup: Some(&dir),
            as_db_user: as_root,
        });
        let log = log.clone();
        let ready = move || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("database system is ready to accept connections"))
        };
        (guard, port, Box::new(ready) as Ready)
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
    pub(super) fn psql_command(&self, database: &str) -> Command {
        let mut cmd = Command::new(pg_bin("psql"));
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, "-d", database, "-f", "-"])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGSERVICE")
            .env_remove("PGSSLMODE");
        cmd
    }

    /// What psql printed (trailing newlines trimmed), or its stderr.
    pub(super) fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = process::output_with_stdin(&mut self.psql_command(database), sql.as_bytes());
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

    pub(super) fn psql(&self, database: &str, sql: &str) -> String {
        let mut cmd = self.psql_command(database);
        let out = process::output_with_stdin(&mut cmd, sql.as_bytes());
        if !out.status.success() {
            let shown: String = sql.chars().take(2000).collect();
            panic!(
                "{}SQL (stdin):\n{shown}",
                process::report(
                    &format!("psql in database {database} failed"),
                    &process::command_line(&cmd),
                    &out.status.to_string(),
                    &out.stdout,
                    &out.stderr
                )
            );
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        while text.ends_with('\n') {
            text.pop();
        }
        text
    }
}

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
