//! Peers in the same run, against the same server: kraken-async-rs (Rust, tokio) and
//! python-kraken-sdk, each sending the same one-at-a-time add_order sequence to a fresh
//! reflector over TLS, timed add_order → ack by the peer itself.
//!
//! They live outside the workspace (tools/latency/peers, set up by its `setup.sh`): nothing of
//! theirs is linked into kraken-exec.

use std::path::{Path, PathBuf};
use std::process::Command;

use hdrhistogram::Histogram;
use kraken_reflector::Reflector;

use crate::hist;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `setup.sh` (a venv with python-kraken-sdk, the Rust peer built): idempotent.
pub fn setup() -> Result<(), String> {
    let st = Command::new("bash")
        .arg(root().join("tools/latency/peers/setup.sh"))
        .status()
        .map_err(|e| format!("setup.sh: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("setup.sh failed: {st}"))
    }
}

/// A peer's command line for a server.
fn command(peer: &str, r: &Reflector, n: usize, warmup: usize, out: &Path) -> Command {
    let root = root();
    let mut c = Command::new("taskset");
    // The peer's process alone on core 1, as the engine's I/O thread; the server on core 0.
    c.args(["-c", "1"]);
    match peer {
        "kraken-async-rs" => {
            c.arg(root.join("target/peers/cargo/release/kraken-async-rs-peer"))
                .args(["--ws-url", &r.ws_url, "--token", "bench"]);
        }
        _ => {
            c.arg(root.join("target/peers/venv/bin/python"))
                .arg(root.join("tools/latency/peers/python_peer.py"))
                .args(["--ws-base", &r.ws_url, "--rest-url", &r.rest_url]);
        }
    }
    c.args(["--n", &n.to_string(), "--warmup", &warmup.to_string()])
        .arg("--out")
        .arg(out);
    c
}

/// Runs one peer against a fresh TLS reflector; its add → ack round trips.
pub fn run(peer: &str, n: usize, warmup: usize, dir: &Path) -> Result<Histogram<u64>, String> {
    let r = Reflector::start(true, false).map_err(|e| e.to_string())?;
    let _ = std::fs::create_dir_all(dir);
    // Both peers trust the reflector's self-signed CA through SSL_CERT_FILE (OpenSSL for
    // kraken-async-rs' native-tls, Python's ssl module for the SDK).
    let ca = dir.join("reflector-ca.pem");
    std::fs::write(&ca, r.ca_pem.as_deref().unwrap_or_default()).map_err(|e| e.to_string())?;
    let out = dir.join(format!("{peer}.rtt"));
    let st = command(peer, &r, n, warmup, &out)
        .env("SSL_CERT_FILE", &ca)
        .status()
        .map_err(|e| format!("{peer}: {e} (run tools/latency/peers/setup.sh)"))?;
    if !st.success() {
        return Err(format!("{peer} exited with {st}"));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let mut h = hist();
    for line in text.lines() {
        if let Ok(v) = line.trim().parse::<u64>() {
            let _ = h.record(v.max(1));
        }
    }
    if h.is_empty() {
        return Err(format!("{peer} recorded nothing"));
    }
    Ok(h)
}
