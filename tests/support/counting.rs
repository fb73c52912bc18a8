//! A global allocator that counts the allocations of the calling thread, for the tests that
//! prove the hot path allocates nothing. Include with `#[path = "support/counting.rs"] mod`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(p, l, n) }
    }
}

/// Allocations made by this thread so far.
pub fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Checks the counter sees a deliberate allocation on this thread (so a zero means zero).
pub fn assert_counts() {
    let b = allocs();
    drop(std::hint::black_box(vec![0u8; 32]));
    assert_eq!(allocs() - b, 1, "the counting allocator is not counting");
}
