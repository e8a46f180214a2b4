//! A fault-injecting HTTP/1.1 proxy in front of a test S3 server. It relays
//! every request and response byte for byte (so SigV4 signatures still
//! verify) unless a rule matches; then it answers with an S3 error, delays,
//! drops the connection, cuts the body short or never answers.
//!
//! One request per connection: the proxy adds `Connection: close` in both
//! directions (a hop-by-hop header no signature covers), so the end of a
//! response is simply the server closing, and no body is ever parsed.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archive_desk_core::StoreConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::S3Server;

mod http;
use http::{connection_close, drain, error_response, read_head, RequestLine};

const DEFAULT_SEED: u64 = 0x5EED_F00D;

/// Which requests a rule applies to; `None` fields match anything.
#[derive(Debug, Clone, Default)]
pub struct Match {
    /// `GET`, `PUT`, `HEAD`, `DELETE`, `POST` (any case).
    pub method: Option<String>,
    /// A query parameter by name (`versions`, `delete`, `legal-hold`) or as
    /// `name=value` (`list-type=2`); never a substring of another parameter.
    pub query_has: Option<String>,
    /// The end of the (percent-decoded) path, e.g. `metadata.json`.
    pub key_suffix: Option<String>,
}

impl Match {
    pub fn any() -> Match {
        Match::default()
    }

    pub fn method(mut self, method: &str) -> Match {
        self.method = Some(method.to_owned());
        self
    }

    pub fn query_has(mut self, param: &str) -> Match {
        self.query_has = Some(param.to_owned());
        self
    }

    pub fn key_suffix(mut self, suffix: &str) -> Match {
        self.key_suffix = Some(suffix.to_owned());
        self
    }

    fn matches(&self, request: &RequestLine) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
            && self
                .query_has
                .as_ref()
                .is_none_or(|want| request.query.split('&').any(|param| query_param_is(param, want)))
            && self
                .key_suffix
                .as_ref()
                .is_none_or(|s| request.path.ends_with(s.as_str()))
    }
}

/// `param` (`name` or `name=value`) is `want`: the same name when `want` has
/// no value, else the same name and value.
fn query_param_is(param: &str, want: &str) -> bool {
    if want.contains('=') {
        param == want
    } else {
        param.split('=').next() == Some(want)
    }
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// An S3 error answer: `<Error><Code>…</Code><Message>…</Message>…`.
    Status { status: u16, code: String, message: String },
    /// Wait `fixed_ms` plus up to `jitter_ms`. It adds to what follows:
    /// the rules after it still decide the request's fate (forwarded, or
    /// faulted after the wait), so latency combines with every other fault.
    Latency { fixed_ms: u64, jitter_ms: u64 },
    /// Send the response body at most `bytes_per_second` (a slow link). Like
    /// latency it adds to what follows, so it combines with the other faults.
    Bandwidth { bytes_per_second: u64 },
    /// Close the connection without answering.
    ResetBeforeResponse,
    /// Forward the status and headers (with the real `Content-Length`) and
    /// only the first `after_bytes` of the body, then close.
    TruncateBody { after_bytes: usize },
    /// Never answer; the connection stays open until the client gives up.
    Stall,
}

impl Fault {
    pub fn status(status: u16, code: &str, message: &str) -> Fault {
        Fault::Status {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn access_denied() -> Fault {
        Fault::status(403, "AccessDenied", "Access Denied")
    }

    pub fn slow_down() -> Fault {
        Fault::status(503, "SlowDown", "Please reduce your request rate.")
    }

    pub fn internal_error() -> Fault {
        Fault::status(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Counts hits (`FaultProxy::hits`); rules may share a name.
    pub name: String,
    pub on: Match,
    pub fault: Fault,
    /// Chance that a matching request is faulted; 1.0 = always.
    pub probability: f64,
    /// Fault at most this many requests.
    pub limit: Option<u64>,
}

impl Rule {
    /// Always apply `fault` to requests matching `on`.
    pub fn new(name: &str, on: Match, fault: Fault) -> Rule {
        Rule {
            name: name.to_owned(),
            on,
            fault,
            probability: 1.0,
            limit: None,
        }
    }

    pub fn probability(self, probability: f64) -> Rule {
        Rule { probability, ..self }
    }

    pub fn limit(self, limit: u64) -> Rule {
        Rule {
            limit: Some(limit),
            ..self
        }
    }
}

/// The proxy; dropping it stops it and closes every connection.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    config: StoreConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    upstream: String,
    seed: u64,
    state: Mutex<State>,
    tracked: Mutex<Tracked>,
}

/// Requests of one kind in flight at once (`track_in_flight`).
#[derive(Default)]
struct Tracked {
    on: Option<Match>,
    now: usize,
    peak: usize,
}

struct State {
    rules: Vec<Rule>,
    hits: HashMap<String, u64>,
    rng: fastrand::Rng,
}

/// What to do with one request.
enum Action {
    Forward {
        cut_after: Option<usize>,
        bytes_per_second: Option<u64>,
    },
    Answer(Vec<u8>),
    Reset,
    Stall,
}

impl FaultProxy {
    pub fn start(upstream: &S3Server) -> FaultProxy {
        FaultProxy::start_seeded(upstream, DEFAULT_SEED)
    }

    /// `seed` drives every probability and jitter decision: the same rules
    /// and the same requests in the same order give the same faults.
    pub fn start_seeded(upstream: &S3Server, seed: u64) -> FaultProxy {
        let proxy = FaultProxy::start_to(&upstream.endpoint, upstream.store_config(""), seed);
        // Tests reach the store through the proxy with a client of their own.
        crate::raw_s3::register(&proxy.config);
        proxy
    }

    /// A proxy in front of any HTTP/1.1 server at `url` (`http://HOST:PORT`),
    /// e.g. the Supabase stand-in's gateway; `store_config` is meaningless
    /// for it.
    pub fn start_http(url: &str, seed: u64) -> FaultProxy {
        FaultProxy::start_to(url, StoreConfig::new(""), seed)
    }

    fn start_to(upstream: &str, mut config: StoreConfig, seed: u64) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port for the proxy");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_start_matches("http://").trim_end_matches('/').to_owned(),
            seed,
            state: Mutex::new(State {
                rules: Vec::new(),
                hits: HashMap::new(),
                rng: fastrand::Rng::with_seed(seed),
            }),
            tracked: Mutex::default(),
        });
        config.endpoint = Some(format!("http://127.0.0.1:{port}"));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let accepting = shared.clone();
        // A runtime of its own, so the proxy outlives each test's runtime.
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("proxy listener");
                    tokio::select! {
                        _ = stopped => {}
                        _ = accepting.accept_loop(listener) => {}
                    }
                });
                // Dropping the runtime closes every open connection.
            })
            .expect("proxy thread");
        FaultProxy {
            port,
            shared,
            config,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Like `S3Server::store_config`, through the proxy.
    pub fn store_config(&self, bucket: &str) -> StoreConfig {
        let mut config = self.config.clone();
        config.bucket = bucket.to_owned();
        config
    }

    /// Replace the rules for the next request: latency rules that fire add
    /// their delays, and the first other rule that fires decides; each
    /// probability is drawn on its own, so a mix (10% SlowDown, 2% resets,
    /// …) is a list of rules. Also
    /// resets the hit counts and reseeds, so the same rules replay the same faults.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.set_rules_seeded(rules, self.shared.seed);
    }

    /// As [`FaultProxy::set_rules`], drawing from `seed` (a chaos pass
    /// gives each run a seed of its own, so runs see different faults).
    pub fn set_rules_seeded(&self, rules: Vec<Rule>, seed: u64) {
        let mut state = self.shared.state.lock().expect("proxy state");
        state.rules = rules;
        state.hits.clear();
        state.rng = fastrand::Rng::with_seed(seed);
    }

    pub fn clear(&self) {
        self.set_rules(Vec::new());
    }

    /// Count the requests `on` matches that are in flight at once (from
    /// their head read, through any added latency, until forwarded to the
    /// server or answered with a fault), from zero: `peak_in_flight`.
    pub fn track_in_flight(&self, on: Match) {
        *self.shared.tracked.lock().expect("proxy tracking") = Tracked {
            on: Some(on),
            ..Tracked::default()
        };
    }

    /// The most tracked requests in flight at once since `track_in_flight`.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.tracked.lock().expect("proxy tracking").peak
    }

    /// How many requests the rules named `name` have faulted.
    pub fn hits(&self, name: &str) -> u64 {
        let state = self.shared.state.lock().expect("proxy state");
        state.hits.get(name).copied().unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One tracked request in flight, counted until dropped.
struct InFlight<'a>(Option<&'a Mutex<Tracked>>);

impl<'a> InFlight<'a> {
    fn enter(tracked: &'a Mutex<Tracked>, request: &RequestLine) -> InFlight<'a> {
        let mut t = tracked.lock().expect("proxy tracking");
        if !t.on.as_ref().is_some_and(|on| on.matches(request)) {
            return InFlight(None);
        }
        t.now += 1;
        t.peak = t.peak.max(t.now);
        InFlight(Some(tracked))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(tracked) = self.0 {
            let mut t = tracked.lock().expect("proxy tracking");
            t.now = t.now.saturating_sub(1);
        }
    }
}

impl Shared {
    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                // Out of descriptors, say: let connections close first.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let shared = self.clone();
            // A failed connection (client gone, server refused) ends only itself.
            tokio::spawn(async move {
                let _ = shared.serve(client).await;
            });
        }
    }

    async fn serve(&self, mut client: TcpStream) -> io::Result<()> {
        let mut buf = Vec::new();
        let head_len = read_head(&mut client, &mut buf).await?;
        let request = RequestLine::parse(&buf[..head_len])?;
        let in_flight = InFlight::enter(&self.tracked, &request);
        let (delay, action) = self.decide(&request);
        tokio::time::sleep(delay).await;
        match action {
            Action::Forward {
                cut_after,
                bytes_per_second,
            } => {
                self.forward(client, buf, head_len, cut_after, bytes_per_second, in_flight)
                    .await
            }
            Action::Answer(response) => {
                client.write_all(&response).await?;
                client.shutdown().await?;
                // Read what the client still sends, so closing does not reset
                // the connection under the answer.
                drain(client).await
            }
            Action::Reset => Ok(()),
            Action::Stall => drain(client).await,
        }
    }

    /// How long to wait first, and then what to do.
    fn decide(&self, request: &RequestLine) -> (Duration, Action) {
        let mut state = self.state.lock().expect("proxy state");
        let State { rules, hits, rng } = &mut *state;
        let mut delay = Duration::ZERO;
        let mut bytes_per_second = None;
        for rule in rules.iter() {
            let count = hits.get(&rule.name).copied().unwrap_or(0);
            if !rule.on.matches(request) || rule.limit.is_some_and(|limit| count >= limit) {
                continue;
            }
            // Always-rules draw nothing, so adding one leaves the others' draws alone.
            if rule.probability < 1.0 && rng.f64() >= rule.probability {
                continue;
            }
            hits.insert(rule.name.clone(), count + 1);
            let action = match &rule.fault {
                Fault::Status { status, code, message } => {
                    // The rule's name, kept to what a header may carry.
                    let name: String = rule
                        .name
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    let request_id = format!("FAULT-{name}-{}", count + 1);
                    Action::Answer(error_response(*status, code, message, &request_id, &request.method))
                }
                Fault::Latency { fixed_ms, jitter_ms } => {
                    delay += Duration::from_millis(fixed_ms + rng.u64(0..=*jitter_ms));
                    continue;
                }
                Fault::Bandwidth { bytes_per_second: cap } => {
                    bytes_per_second = Some((*cap).max(1));
                    continue;
                }
                Fault::ResetBeforeResponse => Action::Reset,
                Fault::TruncateBody { after_bytes } => Action::Forward {
                    cut_after: Some(*after_bytes),
                    bytes_per_second,
                },
                Fault::Stall => Action::Stall,
            };
            return (delay, action);
        }
        (
            delay,
            Action::Forward {
                cut_after: None,
                bytes_per_second,
            },
        )
    }

    /// Relay the request (head in `buf`, maybe the start of its body after
    /// it) to the server and its response back, at most `cut_after` body
    /// bytes, at most `bytes_per_second` when capped.
    async fn forward(
        &self,
        mut client: TcpStream,
        buf: Vec<u8>,
        head_len: usize,
        cut_after: Option<usize>,
        bytes_per_second: Option<u64>,
        in_flight: InFlight<'_>,
    ) -> io::Result<()> {
        let mut server = match TcpStream::connect(&self.upstream).await {
            Ok(server) => server,
            Err(e) => {
                let answer = error_response(502, "BadGateway", &format!("fault proxy: {e}"), "FAULT-PROXY", "");
                return client.write_all(&answer).await;
            }
        };
        server.write_all(&connection_close(&buf[..head_len])).await?;
        server.write_all(&buf[head_len..]).await?;
        // Counted until here: a server may close the connection well after
        // the client has its answer, so the rest says nothing about the client.
        drop(in_flight);
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let upload = async {
            let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        };
        let download = relay_response(&mut server_read, &mut client_write, cut_after, bytes_per_second);
        // The upload ends when the client closes, after it has the answer.
        let (downloaded, ()) = tokio::join!(download, upload);
        downloaded
    }
}

async fn relay_response<R, W>(
    server: &mut R,
    client: &mut W,
    cut_after: Option<usize>,
    bytes_per_second: Option<u64>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let head_len = loop {
        let head_len = read_head(server, &mut buf).await?;
        // `100 Continue` and friends go through as they are; the final answer follows.
        if buf.get(9) != Some(&b'1') {
            break head_len;
        }
        client.write_all(&buf[..head_len]).await?;
        buf.drain(..head_len);
    };
    client.write_all(&connection_close(&buf[..head_len])).await?;
    let mut budget = cut_after.unwrap_or(usize::MAX);
    let mut chunk = buf.split_off(head_len);
    // Capped: small chunks (about 1/20 s of data each), each sent no earlier
    // than the cap allows counted from the first body byte, so the pace does
    // not drift with the time each write takes.
    let chunk_size = bytes_per_second.map_or(16 * 1024, |rate| (rate / 20).clamp(1, 16 * 1024) as usize);
    let started = tokio::time::Instant::now();
    let mut sent: u64 = 0;
    loop {
        let n = chunk.len().min(budget);
        for piece in chunk[..n].chunks(chunk_size) {
            if let Some(rate) = bytes_per_second {
                tokio::time::sleep_until(started + Duration::from_secs_f64(sent as f64 / rate as f64)).await;
            }
            client.write_all(piece).await?;
            sent += piece.len() as u64;
        }
        budget -= n;
        if budget == 0 {
            break;
        }
        chunk.resize(chunk_size, 0);
        let read = server.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        chunk.truncate(read);
    }
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str) -> RequestLine {
        RequestLine::parse(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn query_matches_parameter_names_not_substrings() {
        let versions = Match::any().query_has("versions");
        assert!(versions.matches(&request("/b?versions")));
        assert!(versions.matches(&request("/b?versions=&prefix=u%2F")));
        assert!(versions.matches(&request("/b?prefix=a&versions")));
        assert!(!versions.matches(&request("/b?versioning")));
        assert!(!versions.matches(&request("/b?prefix=versions")));
        assert!(!versions.matches(&request("/b/versions")));
        let v2 = Match::any().query_has("list-type=2");
        assert!(v2.matches(&request("/b?list-type=2&prefix=x")));
        assert!(!v2.matches(&request("/b?list-type=1")));
    }

    #[test]
    fn key_suffix_sees_the_decoded_path_and_method_any_case() {
        let rule = Match::any().method("put").key_suffix("é/metadata.json");
        let put = RequestLine::parse(b"PUT /b/u/%C3%A9/metadata.json?x-id=PutObject HTTP/1.1\r\n\r\n").unwrap();
        assert!(rule.matches(&put));
        let get = RequestLine::parse(b"GET /b/u/%C3%A9/metadata.json HTTP/1.1\r\n\r\n").unwrap();
        assert!(!rule.matches(&get));
    }
}
