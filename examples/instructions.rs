//! Add → ack → cancel → ack round trips for counting our client's instructions under
//! callgrind: a figure the machine's noise does not move (issue 15). Same-thread mode, so one
//! thread (this one) does the strategy's calls, the rings' work, TLS, framing, decoding and the
//! tracker; the reflector's threads are counted apart (`--separate-threads=yes`).
//!
//! The loop polls and sleeps 200 µs when a poll found nothing. An empty poll (a `recv` that
//! finds nothing, timers) is not part of a round trip, so the example counts them, and then
//! makes `IDLE` more with nothing in flight, to price one: see PERF.md for the arithmetic.
//!
//! ```text
//! cargo build --release --example instructions
//! valgrind --tool=callgrind --separate-threads=yes ./target/release/examples/instructions N IDLE
//! ```

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use kraken_exec::engine::{self, Threading};
use kraken_reflector::Reflector;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("a number"));
    let n = args.next().unwrap_or(1000);
    let idle = args.next().unwrap_or(0);
    let r = Reflector::start(true, false).unwrap();
    let mut cfg = common::reflector_config(&r);
    cfg.threading = Threading::SameThread;
    let mut t = engine::start(cfg).unwrap();
    let mut acks = common::Acks::default();
    assert!(t.wait_ready(&mut acks, Duration::from_secs(60)));
    let mut empty = 0u64;
    let mut wait =
        |t: &mut engine::Trader, acks: &mut common::Acks, done: &dyn Fn(&common::Acks) -> bool| {
            let end = Instant::now() + Duration::from_secs(60);
            while !done(acks) {
                assert!(
                    Instant::now() < end,
                    "no answer: {:?} {:?}",
                    acks.0,
                    t.statistics()
                );
                if t.poll(acks) == 0 {
                    empty += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        };
    for i in 0..n {
        common::round_trip(&mut t, &mut acks, "ins-", i, &mut wait);
    }
    let before = empty;
    for _ in 0..idle {
        assert_eq!(t.poll(&mut acks), 0);
        empty += 1;
    }
    println!(
        "round trips {n}, empty polls during them {before}, idle polls after {}",
        empty - before
    );
    let _ = t.shutdown();
}
