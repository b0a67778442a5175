//! The password-hashing pool: a fixed number of worker threads fed by a bounded queue, so that a
//! sign-in storm costs at most `workers` argon2 memories and a queue of waiting requests, never
//! one thread and 19 MiB per concurrent sign-in (as Rauthy's `max_hash_threads`).
//!
//! Each worker keeps its argon2 memory between jobs and lets it go after a quiet spell, so an
//! idle server returns to its idle footprint. A full queue is refused at once ([`Busy`]): the
//! caller sheds the request (503 with `Retry-After`) instead of queueing without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::Block;
use flume::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::phc;

/// Settings of `[passwords]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSettings {
    /// Hashing threads; 0 means one per core.
    pub hash_workers: usize,
    /// Requests that may wait for a thread; more are refused with 503 at once.
    pub hash_queue: usize,
    /// A worker frees its argon2 memory after this long without work.
    pub release_after_secs: u64,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings {
            hash_workers: 0,
            hash_queue: 64,
            release_after_secs: 5,
        }
    }
}

impl PasswordSettings {
    fn workers(&self) -> usize {
        if self.hash_workers > 0 {
            self.hash_workers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}

/// Every hashing thread and the queue are taken: try again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once; try again in a few seconds")]
pub struct Busy;

/// What a job answers: a PHC string for a hash, a verdict for a check.
enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Verify {
        password: String,
        hash: Option<String>,
        reply: oneshot::Sender<bool>,
    },
}

struct Shared {
    /// Jobs queued and not yet taken by a worker.
    queued: AtomicUsize,
    /// Workers holding their argon2 memory now.
    holding_memory: AtomicUsize,
    /// Jobs a worker ran with a memory it already held (not a fresh allocation).
    reused: AtomicUsize,
}

/// The pool. Cheap to clone; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct HashPool {
    queue: Sender<Job>,
    shared: Arc<Shared>,
    /// The hash checked for unknown accounts, made by the pool itself once.
    dummy: Arc<tokio::sync::OnceCell<String>>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("queued", &self.queue_len())
            .finish_non_exhaustive()
    }
}

impl HashPool {
    pub fn new(settings: &PasswordSettings) -> HashPool {
        prefer_mmap_for_large_buffers();
        let (queue, jobs) = flume::bounded(settings.hash_queue);
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            holding_memory: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
        });
        let idle = Duration::from_secs(settings.release_after_secs.max(1));
        for n in 0..settings.workers() {
            let jobs = jobs.clone();
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || work(&jobs, &shared, idle));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        HashPool {
            queue,
            shared,
            dummy: Arc::default(),
        }
    }

    /// Jobs waiting for a thread (for metrics).
    pub fn queue_len(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Workers holding their argon2 memory now.
    pub fn workers_holding_memory(&self) -> usize {
        self.shared.holding_memory.load(Ordering::Relaxed)
    }

    /// Jobs that ran in memory a worker already held.
    pub fn reused_memory_count(&self) -> usize {
        self.shared.reused.load(Ordering::Relaxed)
    }

    fn submit(&self, job: Job) -> Result<(), Busy> {
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                Err(Busy)
            }
        }
    }

    /// The PHC string of a new argon2id hash of `password`.
    pub async fn hash(&self, password: String) -> Result<Result<String, String>, Busy> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        Ok(answer
            .await
            .unwrap_or_else(|_| Err("the hashing thread stopped".into())))
    }

    /// Whether `password` matches `hash`. With no hash (unknown account, or no password set
    /// yet) the dummy hash is checked in the same pool, so the answer takes as long either way.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let real = hash.is_some();
        let candidate = match hash {
            Some(h) => h,
            None => self.dummy_hash().await?,
        };
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash: Some(candidate),
            reply,
        })?;
        Ok(answer.await.unwrap_or(false) && real)
    }

    async fn dummy_hash(&self) -> Result<String, Busy> {
        self.dummy
            .get_or_try_init(|| async {
                match self.hash("dummy password for timing".into()).await? {
                    Ok(h) => Ok(h),
                    // Never happens with valid parameters; a check against it fails anyway.
                    Err(_) => Ok(String::new()),
                }
            })
            .await
            .cloned()
    }
}

/// A worker: takes jobs until the pool is dropped, keeping its argon2 memory between jobs and
/// freeing it after `idle` without work. Each worker waits on the queue with its own timeout
/// (a receiver shared behind a lock let only the holder's wait time out, and a worker waiting
/// for the lock kept its memory for good).
fn work(jobs: &Receiver<Job>, shared: &Shared, idle: Duration) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match jobs.recv_timeout(idle) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                if !memory.is_empty() {
                    memory = Vec::new();
                    // The last worker to go quiet: the burst is over.
                    if shared.holding_memory.fetch_sub(1, Ordering::Relaxed) == 1 {
                        return_free_memory();
                    }
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        shared.queued.fetch_sub(1, Ordering::Relaxed);
        if memory.is_empty() {
            shared.holding_memory.fetch_add(1, Ordering::Relaxed);
        } else {
            shared.reused.fetch_add(1, Ordering::Relaxed);
        }
        match job {
            Job::Hash { password, reply } => {
                let _ = reply.send(phc::hash_with(&password, &mut memory));
            }
            Job::Verify {
                password,
                hash,
                reply,
            } => {
                let ok = hash.is_some_and(|h| phc::verify_with(&password, &h, &mut memory));
                let _ = reply.send(ok);
            }
        }
    }
}

/// glibc serves a freed 19 MiB buffer's successor from its heap once it has seen one freed (its
/// mmap threshold adapts upwards), and a heap rarely shrinks: pin the threshold so that argon2
/// memories are always mapped and unmapped, and a quiet server gives them back.
fn prefer_mmap_for_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator tuning; 1 MiB is a valid threshold.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            }
        });
    }
}

/// Hands the allocator's free pages back to the system once a burst of sign-ins is over. Its
/// connections, sessions and pages are freed by then, but glibc keeps freed memory in its
/// per-thread arenas, so a server would otherwise hold the peak of its busiest morning.
fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only gives free pages back; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(workers: usize, queue: usize) -> HashPool {
        HashPool::new(&PasswordSettings {
            hash_workers: workers,
            hash_queue: queue,
            release_after_secs: 60,
        })
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_take_the_pool() {
        let p = pool(1, 8);
        let h = p
            .hash("correct horse battery".into())
            .await
            .unwrap()
            .unwrap();
        assert!(p
            .verify("correct horse battery".into(), Some(h.clone()))
            .await
            .unwrap());
        assert!(!p
            .verify("wrong horse battery".into(), Some(h))
            .await
            .unwrap());
        let before = p.reused_memory_count();
        assert!(!p
            .verify("dummy password for timing".into(), None)
            .await
            .unwrap());
        // The dummy check ran on the worker, in the memory it already held.
        assert!(p.reused_memory_count() > before);
    }

    #[tokio::test]
    async fn a_worker_reuses_its_memory() {
        let p = pool(1, 8);
        for _ in 0..3 {
            p.hash("correct horse battery".into())
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(p.workers_holding_memory(), 1);
        assert_eq!(p.reused_memory_count(), 2);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let p = pool(1, 2);
        // One job runs and two wait; every further one is refused without waiting.
        let mut pending = Vec::new();
        for _ in 0..12 {
            let p = p.clone();
            pending.push(tokio::spawn(async move {
                p.hash("correct horse battery".into()).await
            }));
        }
        let mut done = 0;
        let mut refused = 0;
        for task in pending {
            match task.await.unwrap() {
                Ok(Ok(_)) => done += 1,
                Ok(Err(e)) => panic!("{e}"),
                Err(Busy) => refused += 1,
            }
        }
        assert_eq!(done + refused, 12);
        assert!(
            refused >= 12 - 3,
            "at most one running and two queued: {refused} refused"
        );
        assert!(done >= 1);
        assert_eq!(p.queue_len(), 0);
    }

    #[tokio::test]
    async fn memory_is_released_when_idle() {
        let p = HashPool::new(&PasswordSettings {
            hash_workers: 1,
            hash_queue: 4,
            release_after_secs: 1,
        });
        p.hash("correct horse battery".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.workers_holding_memory(), 1);
        for _ in 0..50 {
            if p.workers_holding_memory() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the worker kept its memory after a quiet spell");
    }

    #[tokio::test]
    async fn every_worker_releases_its_memory_when_idle() {
        let p = HashPool::new(&PasswordSettings {
            hash_workers: 2,
            hash_queue: 8,
            release_after_secs: 1,
        });
        // Keep both workers busy at once, so that each holds a memory.
        for _ in 0..10 {
            let jobs: Vec<_> = (0..4)
                .map(|_| {
                    let p = p.clone();
                    tokio::spawn(async move { p.hash("correct horse battery".into()).await })
                })
                .collect();
            for job in jobs {
                job.await.unwrap().unwrap().unwrap();
            }
            if p.workers_holding_memory() == 2 {
                break;
            }
        }
        assert_eq!(p.workers_holding_memory(), 2);
        for _ in 0..80 {
            if p.workers_holding_memory() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} workers kept their memory after a quiet spell",
            p.workers_holding_memory()
        );
    }
}
