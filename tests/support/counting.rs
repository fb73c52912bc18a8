//! A global allocator that counts allocations per thread, for the tests that prove the hot
//! path allocates nothing (or exactly what is documented). Include with
//! `#[path = "support/counting.rs"] mod`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

pub struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    /// This thread's slot in `NAMED` (`usize::MAX`: not looked up yet).
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Set while this thread registers itself (which may allocate): not counted.
    static REGISTERING: Cell<bool> = const { Cell::new(false) };
}

/// Allocation counts by thread name, for threads the test does not run (the engine's).
struct Named {
    name: [AtomicU64; 2],
    count: AtomicU64,
    ready: AtomicBool,
}

const SLOTS: usize = 64;
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Named = Named {
    name: [AtomicU64::new(0), AtomicU64::new(0)],
    count: AtomicU64::new(0),
    ready: AtomicBool::new(false),
};
static NAMED: [Named; SLOTS] = [EMPTY; SLOTS];
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn pack(name: &str) -> [u64; 2] {
    let mut b = [0u8; 16];
    let n = name.len().min(16);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    [
        u64::from_le_bytes(b[..8].try_into().unwrap()),
        u64::from_le_bytes(b[8..].try_into().unwrap()),
    ]
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let Ok(slot) = SLOT.try_with(Cell::get) else {
        return;
    };
    if slot == usize::MAX {
        if REGISTERING.try_with(Cell::get).unwrap_or(true) {
            return;
        }
        let _ = REGISTERING.try_with(|r| r.set(true));
        let name = std::thread::current().name().map(pack).unwrap_or([0, 0]);
        let i = NEXT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1);
        NAMED[i].name[0].store(name[0], Ordering::Relaxed);
        NAMED[i].name[1].store(name[1], Ordering::Relaxed);
        NAMED[i].ready.store(true, Ordering::Release);
        let _ = SLOT.try_with(|s| s.set(i));
        let _ = REGISTERING.try_with(|r| r.set(false));
        NAMED[i].count.fetch_add(1, Ordering::Relaxed);
        return;
    }
    NAMED[slot].count.fetch_add(1, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

/// Allocations made by this thread so far.
pub fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Allocations made so far by the threads named `name` (e.g. the engine's `kraken-io`).
#[allow(dead_code)]
pub fn allocs_of(name: &str) -> u64 {
    let want = pack(name);
    NAMED
        .iter()
        .filter(|n| {
            n.ready.load(Ordering::Acquire)
                && [
                    n.name[0].load(Ordering::Relaxed),
                    n.name[1].load(Ordering::Relaxed),
                ] == want
        })
        .map(|n| n.count.load(Ordering::Relaxed))
        .sum()
}

/// Checks the counter sees a deliberate allocation on this thread (so a zero means zero).
pub fn assert_counts() {
    let b = allocs();
    drop(std::hint::black_box(vec![0u8; 32]));
    assert_eq!(allocs() - b, 1, "the counting allocator is not counting");
}
