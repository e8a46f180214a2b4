//! Restoring a 1,000-message conversation into the same Supabase stand-in
//! (PostgreSQL + PostgREST + gateway) over each link: ours three ways
//! (plain REST, the RPC function, direct Postgres; each verified by reading
//! the rows back) against the archiver's own restore, two supabase-py
//! inserts (`py/supabase_snippet.py`). The tables are emptied before every
//! restore, so each one does the real inserts. Each method keeps its target
//! (HTTP client, column list, idle Postgres connection) from the warm-up
//! round on, as the snippet keeps its client.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use archive_desk_core::restore::{self, RestoreOptions};
use archive_desk_core::{CancellationToken, ConversationDocument};
use archive_desk_harness::fixtures;
use archive_desk_harness::servers;
use archive_desk_harness::supabase::{postgres_target, rest_target, SupabaseStack};
use serde_json::Value;

use crate::link::{http_link, proxy_requests, DelayRelay, Link};
use crate::report::{ms, percentile};

const SNIPPET: &str = include_str!("../py/supabase_snippet.py");
const MESSAGES: usize = 1_000;
const ID: &str = "restore-bench-1000";
pub const SNIPPET_NAME: &str = "archiver's supabase-py (insert conversation, then messages)";

pub struct RestoreRow {
    pub link: Link,
    pub method: &'static str,
    /// One transaction, or how it is not.
    pub atomic: &'static str,
    pub rounds: usize,
    pub p50: Duration,
    pub min: Duration,
    /// Requests (HTTP) or round trips (Postgres) per restore; none counted when direct.
    pub round_trips: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Snippet,
    Rest,
    Rpc,
    Postgres,
}

impl Method {
    const ALL: [Method; 4] = [Method::Snippet, Method::Rest, Method::Rpc, Method::Postgres];

    fn name(self) -> &'static str {
        match self {
            Method::Snippet => SNIPPET_NAME,
            Method::Rest => "ours, REST (plain)",
            Method::Rpc => "ours, REST + RPC function",
            Method::Postgres => "ours, direct Postgres",
        }
    }

    fn atomic(self) -> &'static str {
        match self {
            Method::Snippet => "no: a failed second insert leaves the conversation row; a rerun fails on it",
            Method::Rest => "no, compensated: what a failed attempt inserted is deleted again",
            Method::Rpc | Method::Postgres => "yes, one transaction",
        }
    }
}

/// The supabase-py child, driven one restore per line.
struct Snippet {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Snippet {
    fn start(url: &str, key: &str, archive: &Path) -> Option<Snippet> {
        let python = servers::tools_dir().join("bench-venv/bin/python");
        if !python.exists() {
            eprintln!("bench: no bench venv (scripts/bench.sh installs supabase-py); the snippet is left out");
            return None;
        }
        let mut child = Command::new(python)
            .args(["-c", SNIPPET, url, key])
            .arg(archive)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Some(Snippet { child, stdin, stdout })
    }

    fn restore(&mut self) -> Duration {
        writeln!(self.stdin, "restore").expect("to the snippet");
        self.stdin.flush().expect("to the snippet");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("from the snippet");
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the supabase-py snippet failed (its error is above): {line:?}"));
        Duration::from_secs_f64(answer["ms"].as_f64().expect("ms") / 1000.0)
    }
}

impl Drop for Snippet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// supabase-py's version in the bench venv.
pub fn snippet_version() -> String {
    let python = servers::tools_dir().join("bench-venv/bin/python");
    Command::new(python)
        .args(["-c", "import supabase; print(supabase.__version__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "supabase-py not installed".into(),
            |o| format!("supabase-py {}", String::from_utf8_lossy(&o.stdout).trim()),
        )
}

fn count(stack: &SupabaseStack) -> String {
    stack.psql(&format!(
        "select (select count(*) from public.conversations where id = '{ID}'), \
         (select count(*) from public.messages where conversation_id = '{ID}')"
    ))
}

/// Every method over every link, `rounds` counted rounds each after one
/// warm-up round; the methods take turns within a round, so load that
/// comes and goes falls on all of them alike.
pub async fn restore_rows(links: &[Link], rounds: usize, work: &Path) -> Vec<RestoreRow> {
    let stack = SupabaseStack::start();
    let value = fixtures::conversation(ID, "restore.bench@example.com", "Restore benchmark", MESSAGES);
    let archive = work.join("restore-archive.json");
    std::fs::write(&archive, serde_json::to_vec(&value).expect("json")).expect("archive file");
    let doc = ConversationDocument::from_value("restore-bench", value).expect("document");
    let db: SocketAddr = format!("127.0.0.1:{}", stack.db_port).parse().expect("address");
    let mut rows = Vec::new();
    for &link in links {
        let (url, proxy) = http_link(&stack.url, link);
        // Postgres over the same link: a wire with that round-trip time.
        let (pg_url, relay) = match link {
            Link::Direct => (stack.postgres_url.clone(), None),
            Link::Latency(ms) => {
                let relay = DelayRelay::start(db, Duration::from_millis(ms));
                let url = stack.postgres_url.replace(
                    &format!("@127.0.0.1:{}/", stack.db_port),
                    &format!("@127.0.0.1:{}/", relay.port),
                );
                (url, Some(relay))
            }
        };
        let pg_url = format!("{pg_url}?sslmode=disable");
        let mut snippet = Snippet::start(&url, &stack.service_key, &archive);
        // One target per method for the whole run, as a session restoring
        // several conversations holds it (and as the snippet keeps its
        // client): its HTTP connections, the column list, an idle Postgres
        // connection carry over from the warm-up round.
        let rest = rest_target(&url, &stack.service_key, None);
        let rpc = rest_target(&url, &stack.service_key, Some("restore_archived_conversation"));
        let pg = postgres_target(pg_url.clone());
        let sent = || proxy_requests(&proxy) + relay.as_ref().map_or(0, DelayRelay::round_trips);
        let mut times: Vec<(Method, Vec<Duration>, u64)> = Method::ALL.iter().map(|m| (*m, Vec::new(), 0)).collect();
        for round in 0..=rounds {
            for (method, taken, round_trips) in times.iter_mut() {
                stack.reset();
                let before = sent();
                let took = match method {
                    Method::Snippet => match snippet.as_mut() {
                        Some(s) => s.restore(),
                        None => continue,
                    },
                    _ => {
                        let started = Instant::now();
                        let target = match method {
                            Method::Rest => &rest,
                            Method::Rpc => &rpc,
                            _ => &pg,
                        };
                        let report =
                            restore::restore(target, &doc, &RestoreOptions::default(), &CancellationToken::new())
                                .await
                                .expect("restore");
                        let took = started.elapsed();
                        assert!(
                            report.verified && report.messages_inserted == MESSAGES as u64,
                            "{report:?}"
                        );
                        took
                    }
                };
                assert_eq!(
                    count(&stack),
                    format!("1|{MESSAGES}"),
                    "{} wrote every row",
                    method.name()
                );
                if round > 0 {
                    taken.push(took);
                    *round_trips += sent() - before;
                }
            }
        }
        for (method, mut taken, round_trips) in times {
            if taken.is_empty() {
                continue;
            }
            taken.sort();
            eprintln!(
                "bench[restore, {link}]: {}: p50 {}",
                method.name(),
                ms(percentile(&taken, 0.5))
            );
            rows.push(RestoreRow {
                link,
                method: method.name(),
                atomic: method.atomic(),
                rounds: taken.len(),
                p50: percentile(&taken, 0.5),
                min: taken[0],
                round_trips: (link != Link::Direct).then(|| round_trips / taken.len() as u64),
            });
        }
    }
    rows
}

pub fn markdown(rows: &[RestoreRow]) -> String {
    let mut md = String::from(
        "\n### Restore a 1,000-message conversation (same PostgREST; tables emptied before each restore)\n\n\
         Ours includes checking the archive's fields against the columns and verifying every restored row \
         against what is stored; the snippet sends its two inserts and nothing else. Each keeps its client \
         (ours: the target, with its column list and idle Postgres connection) after a warm-up round. \
         Postgres over a link: a TCP relay delaying each direction by half the latency.\n\n\
         | link | method | atomic | requests (Postgres: round trips) | rounds | p50 | fastest | snippet / this (goal ≥ 2x) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let snippet = rows
            .iter()
            .find(|s| s.link == r.link && s.method == SNIPPET_NAME)
            .map(|s| format!("{:.2}x", s.p50.as_secs_f64() / r.p50.as_secs_f64().max(1e-9)))
            .unwrap_or_else(|| "n/a".into());
        let snippet = if r.method == SNIPPET_NAME {
            String::new()
        } else {
            snippet
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {snippet} |\n",
            r.link,
            r.method,
            r.atomic,
            r.round_trips.map_or("n/a".into(), |n| n.to_string()),
            r.rounds,
            ms(r.p50),
            ms(r.min)
        ));
    }
    md
}
