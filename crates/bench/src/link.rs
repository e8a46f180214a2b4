//! The link between a client and a server: direct, or through the harness's
//! fault proxy adding a latency to every request (± 20% jitter), as a desk
//! far from its S3 region or Supabase project sees it. Postgres speaks no
//! HTTP, so its link is a [`DelayRelay`]: every byte arrives a fixed time
//! later in each direction, so each round trip costs the same latency as one
//! HTTP request through the proxy.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use archive_desk_core::StoreConfig;
use archive_desk_harness::{Fault, FaultProxy, Match, Rule, S3Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The proxy rule that adds the latency; its hits count the requests.
const LATENCY_RULE: &str = "latency";

/// How a measurement reaches its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Straight to the server: the check that the proxy costs nothing.
    Direct,
    /// Through the fault proxy, adding this many milliseconds per request.
    Latency(u64),
}

impl Link {
    /// `direct`, or milliseconds: `0`, `20`, `80`.
    pub fn parse(text: &str) -> Link {
        match text.trim() {
            "direct" => Link::Direct,
            ms => Link::Latency(ms.parse().unwrap_or_else(|_| {
                panic!("--latencies takes `direct` or milliseconds, e.g. direct,0,20,80; not {ms:?}")
            })),
        }
    }

    pub fn parse_list(text: &str) -> Vec<Link> {
        text.split(',')
            .filter(|t| !t.trim().is_empty())
            .map(Link::parse)
            .collect()
    }

    /// The proxy's rule: `ms` ± 20%, uniformly (at 0 ms it waits for
    /// nothing and only counts the requests).
    fn rules(self) -> Vec<Rule> {
        match self {
            Link::Latency(ms) => vec![Rule::new(
                LATENCY_RULE,
                Match::any(),
                Fault::Latency {
                    fixed_ms: ms - ms / 5,
                    jitter_ms: 2 * (ms / 5),
                },
            )],
            Link::Direct => Vec::new(),
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Direct => f.write_str("direct"),
            Link::Latency(ms) => write!(f, "proxy +{ms} ms"),
        }
    }
}

/// Where to send S3 requests over a link, and the proxy (if any) that must
/// live as long as they run.
pub struct S3Link {
    pub link: Link,
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    config: StoreConfig,
    proxy: Option<FaultProxy>,
}

impl S3Link {
    pub fn open(server: &S3Server, link: Link) -> S3Link {
        let (endpoint, config, proxy) = match link {
            Link::Direct => (server.endpoint.clone(), server.store_config(""), None),
            Link::Latency(_) => {
                let proxy = FaultProxy::start_seeded(server, 0x0BE7C4);
                proxy.set_rules(link.rules());
                (proxy.endpoint(), proxy.store_config(""), Some(proxy))
            }
        };
        S3Link {
            link,
            endpoint,
            access_key_id: server.access_key_id.clone(),
            secret_access_key: server.secret_access_key.clone(),
            config,
            proxy,
        }
    }

    /// Requests sent over this link so far (0 when direct: not counted).
    pub fn requests(&self) -> u64 {
        self.proxy.as_ref().map_or(0, |p| p.hits(LATENCY_RULE))
    }

    pub fn store_config(&self, bucket: &str) -> StoreConfig {
        let mut config = self.config.clone();
        config.bucket = bucket.to_owned();
        config
    }

    /// The environment the AWS CLI reads its keys from.
    pub fn aws_env(&self) -> [(&'static str, String); 3] {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
        ]
    }
}

/// Requests a proxy has carried so far.
pub fn proxy_requests(proxy: &Option<FaultProxy>) -> u64 {
    proxy.as_ref().map_or(0, |p| p.hits(LATENCY_RULE))
}

/// An HTTP link to any server at `url` (the Supabase gateway): the URL to
/// use and the proxy that must live as long as it is used.
pub fn http_link(url: &str, link: Link) -> (String, Option<FaultProxy>) {
    match link {
        Link::Direct => (url.to_owned(), None),
        Link::Latency(_) => {
            let proxy = FaultProxy::start_http(url, 0x0BE7C4);
            proxy.set_rules(link.rules());
            (proxy.endpoint(), Some(proxy))
        }
    }
}

/// A TCP relay that delivers every chunk, in each direction, half the
/// round-trip time after it was read (± 20%, never out of order): a wire
/// with latency, for protocols the HTTP proxy cannot carry. Dropping it
/// stops it and closes its connections.
pub struct DelayRelay {
    pub port: u16,
    /// Round trips so far: answers that followed a request, on any connection.
    round_trips: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DelayRelay {
    pub fn start(upstream: SocketAddr, round_trip: Duration) -> DelayRelay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port for the relay");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("relay address").port();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let one_way = round_trip / 2;
        let round_trips = Arc::new(AtomicU64::new(0));
        let counted = round_trips.clone();
        let thread = std::thread::Builder::new()
            .name(format!("delay-relay-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("relay runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("relay listener");
                    let accept = async {
                        let mut seed = 0x0BE7C4u64;
                        while let Ok((client, _)) = listener.accept().await {
                            seed += 1;
                            tokio::spawn(relay(client, upstream, one_way, seed, counted.clone()));
                        }
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept => {}
                    }
                });
            })
            .expect("relay thread");
        DelayRelay {
            port,
            round_trips,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl DelayRelay {
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, one_way: Duration, seed: u64, round_trips: Arc<AtomicU64>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Who spoke last on this connection: the server answering after the
    // client spoke is one round trip.
    let client_spoke = AtomicBool::new(false);
    let to_server = |_: usize| client_spoke.store(true, Ordering::Relaxed);
    let to_client = |_: usize| {
        if client_spoke.swap(false, Ordering::Relaxed) {
            round_trips.fetch_add(1, Ordering::Relaxed);
        }
    };
    tokio::join!(
        delayed_copy(client_read, server_write, one_way, seed, to_server),
        delayed_copy(server_read, client_write, one_way, seed ^ 0xFFFF, to_client),
    );
}

/// Copy `from` to `to`, each chunk held back `delay` (± 20%) after it was
/// read; a chunk never overtakes the one before it.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    seed: u64,
    on_read: impl Fn(usize),
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut last = tokio::time::Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            on_read(n);
            let jittered = delay.mul_f64(0.8 + 0.4 * rng.f64());
            last = last.max(tokio::time::Instant::now() + jittered);
            if tx.send((last, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_parse_and_jitter_twenty_percent() {
        assert_eq!(
            Link::parse_list("direct,0,20, 80"),
            [Link::Direct, Link::Latency(0), Link::Latency(20), Link::Latency(80)]
        );
        assert!(Link::Direct.rules().is_empty());
        let rules = Link::Latency(80).rules();
        let Fault::Latency { fixed_ms, jitter_ms } = rules[0].fault else {
            panic!("a latency rule");
        };
        assert_eq!((fixed_ms, fixed_ms + jitter_ms), (64, 96));
    }

    /// An echo server behind the relay: every round trip takes at least
    /// the relay's round-trip time (less the jitter), and every byte comes
    /// back in order.
    #[tokio::test]
    async fn relay_delays_each_round_trip_and_keeps_the_bytes() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                socket.write_all(&buf[..n]).await.unwrap();
            }
        });
        let round_trip = Duration::from_millis(100);
        let relay = DelayRelay::start(upstream, round_trip);
        let mut client = TcpStream::connect(("127.0.0.1", relay.port)).await.unwrap();
        for i in 0..3u8 {
            let message: Vec<u8> = (0..200).map(|b: u8| b.wrapping_add(i)).collect();
            let started = std::time::Instant::now();
            client.write_all(&message).await.unwrap();
            let mut back = vec![0u8; message.len()];
            client.read_exact(&mut back).await.unwrap();
            assert!(started.elapsed() >= round_trip.mul_f64(0.8), "{:?}", started.elapsed());
            assert_eq!(back, message);
        }
        assert_eq!(relay.round_trips(), 3);
    }
}
