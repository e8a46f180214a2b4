//! Adaptive concurrency, as TCP's congestion control does it (AIMD): the
//! number of requests in flight grows while throughput grows with it, and
//! halves when the store pushes back (503 SlowDown, a 5xx, a timeout or a
//! broken connection), within a ceiling the caller sets.
//!
//! `Aimd` is the controller, pure logic over the times it is given (unit
//! tested with made-up clocks); `AdaptiveLimit` shares one between the tasks
//! that feed it (the store reports every attempt that was pushed back, see
//! `Store::with_overload_signals`); `buffered` and `buffer_unordered` drive
//! a stream of futures with as many in flight as the limit says at each
//! moment, like `futures`' adapters of the same names with a fixed number.
//! (`Aimd`'s unit tests model a store; `tests/tests/adaptive.rs` runs the
//! sync and the export against moto and rclone through the fault proxy.)

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::stream::{FuturesOrdered, FuturesUnordered, Stream, StreamExt};
use serde::Serialize;

/// Where a controller starts: low enough not to overwhelm a store that is
/// already busy, high enough that slow start reaches 256 in five windows.
pub const INITIAL_LIMIT: usize = 8;

/// Window-end limits averaged into the settled value.
const SETTLED_WINDOWS: usize = 8;

/// The smallest window judged: fewer completions say too little about a rate.
const MIN_WINDOW: usize = 4;

/// What a controller did, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ConcurrencyReport {
    /// The configured most in flight.
    pub ceiling: u64,
    /// What it settled on: the limit averaged over its last windows (8 at most).
    pub settled: u64,
    /// The highest limit it reached.
    pub peak: u64,
    /// Times it halved the limit because the store pushed back.
    pub backoffs: u64,
}

/// The AIMD controller. A *window* is as many completions as the limit was
/// when it began (at least `MIN_WINDOW`), about one round trip's worth; at
/// its end the window's rate (completions per second) is compared with the
/// previous window's. In slow start the limit doubles while the rate rises
/// by at least a quarter; after that it grows by `increase` while the rate
/// rises by at least half of what the added requests could bring, and holds
/// while it does not. A push-back halves it (never below 1) once per
/// window: the requests already in flight were sent at the old limit, so
/// their push-backs do not count again.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: usize,
    ceiling: usize,
    increase: usize,
    slow_start: bool,
    window_start: Option<Instant>,
    window_size: usize,
    window_done: usize,
    previous_rate: Option<f64>,
    /// Completions still to come before another push-back may halve the limit.
    cooldown: usize,
    recent: VecDeque<usize>,
    peak: usize,
    backoffs: u64,
}

impl Aimd {
    /// A controller between 1 and `ceiling`, starting at `initial` (both at least 1).
    pub fn new(ceiling: usize, initial: usize) -> Aimd {
        let ceiling = ceiling.max(1);
        let limit = initial.clamp(1, ceiling);
        Aimd {
            limit,
            ceiling,
            // Additive, but in steps that reach a high ceiling in a few dozen windows.
            increase: (ceiling / 16).max(1),
            slow_start: true,
            window_start: None,
            window_size: limit.max(MIN_WINDOW),
            window_done: 0,
            previous_rate: None,
            cooldown: 0,
            recent: VecDeque::with_capacity(SETTLED_WINDOWS),
            peak: limit,
            backoffs: 0,
        }
    }

    /// The number of requests that may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A request completed at `now` (successfully, or with an error that
    /// was not the store pushing back: a 404, a corrupt object).
    pub fn on_completion(&mut self, now: Instant) {
        self.cooldown = self.cooldown.saturating_sub(1);
        // The first completion starts the clock: rates are measured between
        // completions, never from an unknown start.
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            return;
        };
        self.window_done += 1;
        if self.window_done < self.window_size {
            return;
        }
        let elapsed = now.duration_since(start).as_secs_f64().max(1e-6);
        let rate = self.window_done as f64 / elapsed;
        let rising = match self.previous_rate {
            None => true,
            Some(previous) if self.slow_start => rate >= previous * 1.25,
            Some(previous) => {
                let possible = self.increase as f64 / self.limit as f64;
                rate >= previous * (1.0 + possible / 2.0)
            }
        };
        if rising {
            self.limit = if self.slow_start {
                (self.limit * 2).min(self.ceiling)
            } else {
                (self.limit + self.increase).min(self.ceiling)
            };
        } else {
            // The rate stopped following the limit: probe gently from here.
            self.slow_start = false;
        }
        self.previous_rate = Some(rate);
        self.peak = self.peak.max(self.limit);
        self.end_window(now);
    }

    /// The store pushed back at `now`: 503 SlowDown, another 5xx, a timeout
    /// or a broken connection (one report per failed attempt).
    pub fn on_overload(&mut self, now: Instant) {
        if self.cooldown > 0 {
            return;
        }
        self.limit = (self.limit / 2).max(1);
        self.slow_start = false;
        self.backoffs += 1;
        // The rate measured at the old limit says nothing about the new one.
        self.previous_rate = None;
        self.end_window(now);
        // About a round trip at the new limit.
        self.cooldown = self.window_size;
    }

    fn end_window(&mut self, now: Instant) {
        if self.recent.len() == SETTLED_WINDOWS {
            self.recent.pop_front();
        }
        self.recent.push_back(self.limit);
        self.window_start = Some(now);
        self.window_done = 0;
        self.window_size = self.limit.max(MIN_WINDOW);
    }

    pub fn report(&self) -> ConcurrencyReport {
        let settled = if self.recent.is_empty() {
            self.limit
        } else {
            let sum: usize = self.recent.iter().sum();
            (sum as f64 / self.recent.len() as f64).round() as usize
        };
        ConcurrencyReport {
            ceiling: self.ceiling as u64,
            settled: settled as u64,
            peak: self.peak as u64,
            backoffs: self.backoffs,
        }
    }
}

/// One `Aimd` shared by the requests it governs, on the real clock.
#[derive(Debug, Clone)]
pub struct AdaptiveLimit(Arc<Mutex<Aimd>>);

impl AdaptiveLimit {
    /// Between 1 and `ceiling`, starting at `INITIAL_LIMIT` (or the ceiling if lower).
    pub fn new(ceiling: usize) -> AdaptiveLimit {
        AdaptiveLimit(Arc::new(Mutex::new(Aimd::new(ceiling, INITIAL_LIMIT))))
    }

    /// Between 1 and `ceiling`, starting at `initial`: where a known
    /// amount of work or an earlier run says the store takes more at once.
    pub fn starting_at(ceiling: usize, initial: usize) -> AdaptiveLimit {
        AdaptiveLimit(Arc::new(Mutex::new(Aimd::new(ceiling, initial))))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Aimd) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn current(&self) -> usize {
        self.with(|a| a.limit())
    }

    pub fn completed(&self) {
        self.with(|a| a.on_completion(Instant::now()))
    }

    pub fn overloaded(&self) {
        self.with(|a| a.on_overload(Instant::now()))
    }

    pub fn report(&self) -> ConcurrencyReport {
        self.with(|a| a.report())
    }
}

/// The futures of `source`, run with as many in flight as `limit` allows
/// at each moment, yielded in `source`'s order (as `StreamExt::buffered`).
/// The futures report their own completions (`AdaptiveLimit::completed`):
/// only those that made a request say something about the store's rate
/// (a sync's unchanged folders complete at once, without one).
pub fn buffered<S>(source: S, limit: AdaptiveLimit) -> impl Stream<Item = <S::Item as Future>::Output>
where
    S: Stream,
    S::Item: Future,
{
    Adaptive {
        source: Some(Box::pin(source)),
        running: FuturesOrdered::new(),
        limit,
    }
}

/// As `buffered`, yielded as they complete (as `StreamExt::buffer_unordered`).
pub fn buffer_unordered<S>(source: S, limit: AdaptiveLimit) -> impl Stream<Item = <S::Item as Future>::Output>
where
    S: Stream,
    S::Item: Future,
{
    Adaptive {
        source: Some(Box::pin(source)),
        running: FuturesUnordered::new(),
        limit,
    }
}

/// The futures in flight, ordered or not.
trait InFlight<F: Future>: Stream<Item = F::Output> + Unpin {
    fn add(&mut self, future: F);
    fn in_flight(&self) -> usize;
}

impl<F: Future> InFlight<F> for FuturesOrdered<F> {
    fn add(&mut self, future: F) {
        self.push_back(future);
    }
    fn in_flight(&self) -> usize {
        self.len()
    }
}

impl<F: Future> InFlight<F> for FuturesUnordered<F> {
    fn add(&mut self, future: F) {
        self.push(future);
    }
    fn in_flight(&self) -> usize {
        self.len()
    }
}

struct Adaptive<S, Q> {
    /// `None` once it ended.
    source: Option<Pin<Box<S>>>,
    running: Q,
    limit: AdaptiveLimit,
}

impl<S, Q> Stream for Adaptive<S, Q>
where
    S: Stream,
    S::Item: Future,
    Q: InFlight<S::Item>,
{
    type Item = <S::Item as Future>::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Fill up to the limit of this moment (it may have dropped below
        // what is in flight: then nothing starts until enough finish).
        while this.running.in_flight() < this.limit.current() {
            let Some(source) = this.source.as_mut() else { break };
            match source.as_mut().poll_next(cx) {
                Poll::Ready(Some(future)) => this.running.add(future),
                Poll::Ready(None) => this.source = None,
                Poll::Pending => break,
            }
        }
        match this.running.poll_next_unpin(cx) {
            Poll::Ready(Some(output)) => Poll::Ready(Some(output)),
            Poll::Ready(None) if this.source.is_none() => Poll::Ready(None),
            // Nothing in flight: the source is pending (it woke us) or
            // the limit allows nothing more yet.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Feed `aimd` `n` completions over a server that answers each in
    /// `latency` and serves at most `capacity` requests at once: the time
    /// advances by one round trip per `min(limit, capacity)` completions.
    fn run(aimd: &mut Aimd, clock: &mut Instant, n: usize, latency: Duration, capacity: usize) {
        let mut done = 0;
        while done < n {
            let batch = aimd.limit().min(capacity).min(n - done);
            *clock += latency;
            for _ in 0..batch {
                aimd.on_completion(*clock);
            }
            done += batch;
        }
    }

    #[test]
    fn slow_start_doubles_to_the_ceiling_while_throughput_follows() {
        let (mut aimd, mut clock) = (Aimd::new(256, 8), Instant::now());
        run(&mut aimd, &mut clock, 5_000, Duration::from_millis(80), usize::MAX);
        assert_eq!(aimd.limit(), 256);
        let r = aimd.report();
        assert_eq!((r.ceiling, r.peak, r.backoffs), (256, 256, 0));
        assert_eq!(r.settled, 256);
    }

    #[test]
    fn it_holds_where_throughput_stops_rising() {
        // The server does 40 at once; more in flight only queue.
        let (mut aimd, mut clock) = (Aimd::new(256, 8), Instant::now());
        run(&mut aimd, &mut clock, 20_000, Duration::from_millis(80), 40);
        let limit = aimd.limit();
        assert!(
            (40..=80).contains(&limit),
            "settled at {limit}, the server's capacity is 40"
        );
        assert_eq!(aimd.report().backoffs, 0);
    }

    #[test]
    fn a_push_back_halves_once_per_window_and_never_below_one() {
        let (mut aimd, mut clock) = (Aimd::new(64, 64), Instant::now());
        aimd.on_overload(clock);
        assert_eq!(aimd.limit(), 32);
        // The rest of the requests in flight fail too: not halved again.
        for _ in 0..31 {
            aimd.on_overload(clock);
        }
        assert_eq!(aimd.limit(), 32);
        assert_eq!(aimd.report().backoffs, 1);
        // A window of completions later (it grew by a step meanwhile: no
        // rate to compare with yet), a push-back halves again.
        for _ in 0..32 {
            clock += Duration::from_millis(1);
            aimd.on_completion(clock);
        }
        assert_eq!(aimd.limit(), 36);
        aimd.on_overload(clock);
        assert_eq!(aimd.limit(), 18);
        assert_eq!(aimd.report().backoffs, 2);
        let mut floor = Aimd::new(64, 1);
        floor.on_overload(clock);
        assert_eq!(floor.limit(), 1, "the floor is 1");
    }

    #[test]
    fn after_a_back_off_it_grows_additively_not_by_doubling() {
        let (mut aimd, mut clock) = (Aimd::new(256, 128), Instant::now());
        aimd.on_overload(clock);
        assert_eq!(aimd.limit(), 64);
        run(&mut aimd, &mut clock, 64, Duration::from_millis(80), usize::MAX);
        assert_eq!(aimd.limit(), 64 + 16, "one window: plus the step (ceiling / 16)");
    }

    #[test]
    fn under_steady_push_back_it_settles_lower_than_without() {
        let latency = Duration::from_millis(80);
        let (mut calm, mut clock) = (Aimd::new(128, 8), Instant::now());
        run(&mut calm, &mut clock, 10_000, latency, usize::MAX);
        // One push-back in every 20 completions.
        let (mut pushed, mut clock) = (Aimd::new(128, 8), Instant::now());
        for i in 0..10_000 {
            if i % 20 == 0 {
                pushed.on_overload(clock);
            }
            clock += latency / pushed.limit() as u32;
            pushed.on_completion(clock);
        }
        let (calm, pushed) = (calm.report(), pushed.report());
        assert!(pushed.backoffs > 10, "{pushed:?}");
        assert!(pushed.settled < calm.settled / 2, "{pushed:?} vs {calm:?}");
        assert_eq!(calm.settled, 128);
    }

    #[test]
    fn the_ceiling_bounds_the_start_and_one_is_the_least() {
        assert_eq!(Aimd::new(4, 8).limit(), 4);
        assert_eq!(Aimd::new(0, 0).limit(), 1);
        assert_eq!(Aimd::new(0, 0).report().ceiling, 1);
    }

    /// The adapters never start a future beyond the limit of that moment
    /// (also after it drops mid-run) and keep order (`buffered`) or yield
    /// everything (`buffer_unordered`).
    #[tokio::test(flavor = "current_thread")]
    async fn adapters_follow_the_limit_of_the_moment() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for ordered in [true, false] {
            let limit = AdaptiveLimit::new(8);
            let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let job = |i: u64| {
                let (running, most, limit) = (running.clone(), most.clone(), limit.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    // Items up to 37 may have been added before the drop
                    // (8 in flight at item 30) and only start after it.
                    if i >= 38 {
                        assert!(
                            now <= limit.current(),
                            "item {i} started as the {now}th with a limit of {}",
                            limit.current()
                        );
                    }
                    most.fetch_max(now, Ordering::SeqCst);
                    if i == 30 {
                        limit.overloaded(); // 8 -> 4 while 8 are in flight
                    }
                    // Later items finish first: order must come from the adapter.
                    tokio::time::sleep(Duration::from_micros(500 - 4 * i)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    limit.completed();
                    i
                }
            };
            let source = futures::stream::iter(0..100).map(job);
            let mut out: Vec<u64> = if ordered {
                buffered(source, limit.clone()).collect().await
            } else {
                buffer_unordered(source, limit.clone()).collect().await
            };
            if !ordered {
                out.sort_unstable();
            }
            assert_eq!(out, (0..100).collect::<Vec<_>>());
            assert_eq!(most.load(Ordering::SeqCst), 8, "the limit was used");
            let report = limit.report();
            assert_eq!(report.backoffs, 1);
            assert!(report.settled <= 8);
        }
    }
}
