//! The CPU backend's thread pool: a fixed set of workers that run one op at a time with the
//! calling thread, spinning briefly between ops (the ops of a decode step follow each other
//! within microseconds) and sleeping on a condition variable after that. An op is one call
//! of [`Pool::run`], a barrier at its end; work inside it is split with [`Chunks`], which
//! hands each piece of an output to whichever thread asks next, so the op never waits for a
//! worker that has not started it (on a busy machine a worker may be descheduled for a
//! whole time slice): the caller takes the remaining chunks and waits only for workers that
//! joined. Nothing is allocated per op.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_micros(500);

/// The job of the current op, its lifetime erased (see [`Pool::run`]).
#[derive(Clone, Copy)]
struct JobPtr(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, so calling it from several threads is sound; `Pool::run`
// keeps it alive while any worker may use the pointer.
unsafe impl Send for JobPtr {}

struct Shared {
    /// Bumped once per op (and once at shutdown).
    epoch: AtomicUsize,
    /// Workers that joined the current op and have not finished it.
    active: AtomicUsize,
    /// Workers asleep (or about to be) on `wake`.
    sleepers: AtomicUsize,
    shutdown: AtomicBool,
    /// A worker's job panicked in the current op.
    panicked: AtomicBool,
    job: Mutex<Option<JobPtr>>,
    sleep: Mutex<()>,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a job panicked; the guarded data is a plain value.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A panic inside a pool job (its message when it had one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a CPU worker panicked: {0}")]
pub struct JobPanicked(pub String);

/// A pool of `threads - 1` workers plus the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One op at a time.
    busy: Mutex<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish()
    }
}

impl Pool {
    /// A pool running ops on `threads` threads (the caller and `threads - 1` workers; 0
    /// means one per physical core).
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let threads = if threads == 0 {
            physical_cores()
        } else {
            threads
        };
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            job: Mutex::new(None),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut pool = Pool {
            shared,
            workers: Vec::new(),
            busy: Mutex::new(()),
        };
        for id in 1..threads {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("rocmforge-pool-{id}"))
                .spawn(move || worker(&shared, id))?;
            pool.workers.push(handle);
        }
        Ok(pool)
    }

    /// Threads that run each op.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(thread)` on the calling thread (as thread 0) and on each worker that joins
    /// before the caller's own call returns (threads `1..threads()`), and returns when all of
    /// those have finished. `f` must split its work dynamically (with [`Chunks`]): a worker
    /// may join late or not at all.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) -> Result<(), JobPanicked> {
        if self.workers.is_empty() {
            return catch_unwind(AssertUnwindSafe(|| f(0))).map_err(message);
        }
        let _one_op = lock(&self.busy);
        let s = &*self.shared;
        let ptr: *const (dyn Fn(usize) + Sync + '_) = f;
        // SAFETY: only the lifetime bound of the trait object changes. A worker uses the
        // pointer only after registering in `active` under the `job` lock, while the slot
        // holds it; this function clears the slot under that lock and then waits for
        // `active` to reach zero before returning, so `f` outlives every use.
        let ptr: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(ptr) };
        s.panicked.store(false, Ordering::Relaxed);
        *lock(&s.job) = Some(JobPtr(ptr));
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = lock(&s.sleep);
            s.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        *lock(&s.job) = None;
        let mut spins = 0u32;
        while s.active.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 1 << 10 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        mine.map_err(message)?;
        if s.panicked.load(Ordering::Relaxed) {
            return Err(JobPanicked("in a worker thread".into()));
        }
        Ok(())
    }
}

fn message(p: Box<dyn Any + Send>) -> JobPanicked {
    let text = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    JobPanicked(text)
}

fn worker(s: &Shared, id: usize) {
    let mut seen = 0usize;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            spins = spins.wrapping_add(1);
            if spins % 256 != 0 || start.elapsed() < SPIN {
                // Yielding now and then lets other threads of this process (attention runs
                // on rayon) have a core we would otherwise spin on.
                if spins % 32 == 0 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            let mut g = lock(&s.sleep);
            s.sleepers.fetch_add(1, Ordering::SeqCst);
            while s.epoch.load(Ordering::SeqCst) == seen {
                g = s.wake.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
        if s.shutdown.load(Ordering::Acquire) {
            return;
        }
        let job = {
            let slot = lock(&s.job);
            if slot.is_some() {
                s.active.fetch_add(1, Ordering::SeqCst);
            }
            *slot
        };
        if let Some(JobPtr(p)) = job {
            // SAFETY: this worker registered in `active` while the slot held the job, and
            // `Pool::run` keeps the job alive until `active` is zero again.
            let f = unsafe { &*p };
            if catch_unwind(AssertUnwindSafe(|| f(id))).is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
            s.active.fetch_sub(1, Ordering::Release);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        {
            let _g = lock(&self.shared.sleep);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Physical cores this process may run on: distinct sibling sets among its CPUs in sysfs,
/// else the available parallelism.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sets = std::collections::BTreeSet::new();
    for cpu in 0..logical.max(1) * 4 {
        let path = format!("/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list");
        if let Ok(s) = std::fs::read_to_string(path) {
            sets.insert(s.trim().to_string());
        }
    }
    match sets.len() {
        0 => logical,
        n => n.min(logical),
    }
}

/// A mutable slice split into chunks of `chunk` elements, each handed out once to
/// whichever thread asks next.
pub struct Chunks<'a, T> {
    ptr: *mut T,
    len: usize,
    chunk: usize,
    next: AtomicUsize,
    _data: PhantomData<&'a mut [T]>,
}

// SAFETY: `next` hands every chunk to one caller only, so threads never share an element;
// sending `&mut T` between threads needs `T: Send`.
unsafe impl<T: Send> Sync for Chunks<'_, T> {}

impl<'a, T> Chunks<'a, T> {
    /// Chunks of `chunk` elements (at least 1) of `data`; the last may be shorter.
    pub fn new(data: &'a mut [T], chunk: usize) -> Chunks<'a, T> {
        Chunks {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            chunk: chunk.max(1),
            next: AtomicUsize::new(0),
            _data: PhantomData,
        }
    }

    /// How many chunks there are.
    pub fn count(&self) -> usize {
        self.len.div_ceil(self.chunk)
    }

    /// The next unclaimed chunk and its index, or `None` when all are taken.
    pub fn next(&self) -> Option<(usize, &'a mut [T])> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let start = i.checked_mul(self.chunk).filter(|&s| s < self.len)?;
        let n = self.chunk.min(self.len - start);
        // SAFETY: `start + n <= len`, inside the borrowed slice; the index `i` comes from a
        // `fetch_add`, so no other call returns an overlapping range while `'a` lasts.
        Some((i, unsafe {
            std::slice::from_raw_parts_mut(self.ptr.add(start), n)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_runs_and_chunks_cover_the_output_once() {
        let pool = Pool::new(3).unwrap();
        assert_eq!(pool.threads(), 3);
        let mut joined = 0;
        for round in 0..200 {
            let mut out = vec![0u32; 1000 + round];
            let chunks = Chunks::new(&mut out, 7);
            let ran = AtomicUsize::new(0);
            pool.run(&|t| {
                ran.fetch_or(1 << t, Ordering::Relaxed);
                // Slow chunks, so the workers join before the caller has taken them all.
                std::thread::sleep(Duration::from_micros(20));
                while let Some((i, c)) = chunks.next() {
                    for (j, v) in c.iter_mut().enumerate() {
                        *v += (i * 7 + j) as u32 + 1;
                    }
                }
            })
            .unwrap();
            assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32 + 1));
            assert_eq!(
                ran.load(Ordering::Relaxed) & 1,
                1,
                "round {round}: caller ran"
            );
            joined |= ran.load(Ordering::Relaxed);
            if round % 50 == 0 {
                // Let the workers fall asleep, so waking them is tested too.
                std::thread::sleep(SPIN * 4);
            }
        }
        assert_eq!(joined, 0b111, "every worker joined some op");
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_pool_survives() {
        let pool = Pool::new(2).unwrap();
        // The caller waits long enough for the worker to join.
        let err = pool
            .run(&|t| {
                if t == 0 {
                    std::thread::sleep(Duration::from_millis(300));
                }
                assert!(t != 1, "boom");
            })
            .unwrap_err();
        assert_eq!(err, JobPanicked("in a worker thread".into()));
        let err = pool.run(&|t| assert!(t != 0, "boom")).unwrap_err();
        assert!(err.0.contains("boom"), "{err}");
        pool.run(&|_| {}).unwrap();
        assert!(physical_cores() >= 1);
    }
}
