//! Counts heap allocations made on the engine's I/O thread per request and per frame, against
//! the reflector over TLS. Our codec and tracker allocate nothing (tests/alloc_free.rs,
//! tests/alloc_engine.rs); what this counts is tungstenite's `Message` buffers and rustls'.
//!
//! `cargo run --release --example io_allocations`

#[path = "common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kraken_exec::engine;
use kraken_reflector::Reflector;

static IO_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// With `IO_ALLOC_TRACE=n`: the backtraces of the first n counted allocations are printed.
static TRACE: AtomicU64 = AtomicU64::new(0);
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static IO_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// 0: not yet classified, 1: the I/O thread, 2: another thread.
    static KIND: Cell<u8> = const { Cell::new(0) };
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

fn count(size: usize) {
    let _ = KIND.try_with(|k| {
        if k.get() == 0 && BUSY.try_with(|b| !b.replace(true)).unwrap_or(false) {
            // Looking at the thread's name may itself allocate: guard against re-entry.
            k.set(if std::thread::current().name() == Some("kraken-io") {
                1
            } else {
                2
            });
            let _ = BUSY.try_with(|b| b.set(false));
        }
        if k.get() == 1 {
            IO_ALLOCS.fetch_add(1, Ordering::Relaxed);
            IO_BYTES.fetch_add(size as u64, Ordering::Relaxed);
            if COUNTING.load(Ordering::Relaxed)
                && TRACE.load(Ordering::Relaxed) > 0
                && BUSY.try_with(|b| !b.replace(true)).unwrap_or(false)
            {
                TRACE.fetch_sub(1, Ordering::Relaxed);
                eprintln!(
                    "allocation of {size} bytes on the I/O thread:\n{}",
                    std::backtrace::Backtrace::force_capture()
                );
                let _ = BUSY.try_with(|b| b.set(false));
            }
        }
    });
}

struct Counting;
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(n);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    let r = Reflector::start(true, false).unwrap();
    let cfg = common::reflector_config(&r);
    let mut t = engine::start(cfg).unwrap();
    let mut acks = common::Acks::default();
    assert!(t.wait_ready(&mut acks, Duration::from_secs(10)));
    // Each wait gives up after 5 s (the counts then show what was missed).
    let mut wait =
        |t: &mut engine::Trader, acks: &mut common::Acks, done: &dyn Fn(&common::Acks) -> bool| {
            let end = Instant::now() + Duration::from_secs(5);
            while !done(acks) && Instant::now() < end {
                t.poll(acks);
            }
        };
    let mut round = |t: &mut engine::Trader, acks: &mut common::Acks, i: u64| {
        common::round_trip(t, acks, "io-", i, &mut wait)
    };
    for i in 0..1000 {
        round(&mut t, &mut acks, i);
    }
    let n = 5000u64;
    if let Some(k) = std::env::var("IO_ALLOC_TRACE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        TRACE.store(k, Ordering::Relaxed);
    }
    COUNTING.store(true, Ordering::Relaxed);
    let (a0, b0, s0) = (
        IO_ALLOCS.load(Ordering::Relaxed),
        IO_BYTES.load(Ordering::Relaxed),
        t.statistics(),
    );
    for i in 1000..1000 + n {
        round(&mut t, &mut acks, i);
    }
    let (a1, b1, s1) = (
        IO_ALLOCS.load(Ordering::Relaxed),
        IO_BYTES.load(Ordering::Relaxed),
        t.statistics(),
    );
    let (requests, frames) = (
        s1.websocket_orders - s0.websocket_orders,
        s1.frames_in - s0.frames_in,
    );
    println!(
        "I/O thread over {n} add+cancel round trips: {requests} requests sent, {frames} frames received"
    );
    println!(
        "  allocations: {} ({:.2} per request+frame, {:.1} per round trip), {} bytes",
        a1 - a0,
        (a1 - a0) as f64 / (requests + frames) as f64,
        (a1 - a0) as f64 / n as f64,
        b1 - b0
    );
    let _ = t.shutdown();
}
