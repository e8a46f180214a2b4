//! The memory budget of a `Store`'s reads.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bounds the memory that concurrent reads hold (a sync fetches 64 indexes
/// at once; each may be up to the object limit, and decoding multiplies it).
/// Bodies reserve their size before they are read, all at once so readers
/// never wait while holding part of the budget; decoding, which needs the
/// JSON text and the parsed tree beside the body, runs at most once per CPU
/// (it is CPU-bound, so that costs no throughput).
#[derive(Clone)]
pub(super) struct MemoryBudget {
    bytes: u64,
    /// In KiB, so a u32 permit count covers any object.
    bodies: Arc<Semaphore>,
    decoders: Arc<Semaphore>,
}

impl MemoryBudget {
    pub(super) fn new(bytes: u64) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        MemoryBudget {
            bytes,
            bodies: Arc::new(Semaphore::new(kib(bytes) as usize)),
            decoders: Arc::new(Semaphore::new(cpus)),
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// A turn to decode: at most one per CPU at a time.
    pub(super) async fn decode_turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.decoders.acquire().await.expect("the budget is never closed")
    }

    pub(super) async fn reserve_body(&self, bytes: u64) -> OwnedSemaphorePermit {
        self.bodies
            .clone()
            .acquire_many_owned(kib(bytes))
            .await
            .expect("the budget is never closed")
    }
}

fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use futures::FutureExt;

    use super::*;

    /// 64 readers of maximal bodies never hold more than the budget at once,
    /// and all of them finish (no reader waits holding part of the budget).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn readers_share_the_budget_and_all_finish() {
        let budget = MemoryBudget::new(256 << 20);
        let (held, peak) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let readers = (0..64).map(|i| {
            let (budget, held, peak) = (budget.clone(), held.clone(), peak.clone());
            tokio::spawn(async move {
                let size: u64 = if i % 2 == 0 { 64 << 20 } else { 1 << 10 };
                let _permit = budget.reserve_body(size).await;
                let now = held.fetch_add(size, Ordering::SeqCst) + size;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                held.fetch_sub(size, Ordering::SeqCst);
            })
        });
        for r in futures::future::join_all(readers).await {
            r.unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= 256 << 20, "held {peak} bytes at once");
    }

    /// Reservations are granted up to the budget at once, and the next one
    /// waits until one is returned.
    #[test]
    fn the_budget_admits_up_to_its_size_and_no_more() {
        let budget = MemoryBudget::new(256 << 20);
        let held: Vec<_> = (0..4)
            .map(|_| budget.reserve_body(64 << 20).now_or_never().expect("within the budget"))
            .collect();
        assert!(budget.reserve_body(1).now_or_never().is_none(), "over the budget waits");
        drop(held);
        assert!(budget.reserve_body(64 << 20).now_or_never().is_some());
    }

    #[test]
    fn permits_are_kib_rounded_up() {
        assert_eq!(kib(0), 0);
        assert_eq!(kib(1), 1);
        assert_eq!(kib(1024), 1);
        assert_eq!(kib(1025), 2);
        assert_eq!(kib(u64::MAX), u32::MAX);
    }
}
