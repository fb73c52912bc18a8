//! The simulator's command line, shared by the `kraken-sim` binary and `kraken-exec sim`.

use std::io::Write;
use std::time::Duration;

use crate::{Sim, SimConfig, Tier};

/// The simulator's flags.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// WebSocket listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub ws_addr: String,
    /// REST listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub rest_addr: String,
    /// Serve wss:// and https:// (certificate from rcgen).
    #[arg(long)]
    pub tls: bool,
    /// Where to write the certificate clients must trust (with --tls).
    #[arg(long)]
    pub cert_out: Option<std::path::PathBuf>,
    /// API key.
    #[arg(long, default_value = crate::DEFAULT_KEY)]
    pub api_key: String,
    /// API secret (base64).
    #[arg(long, default_value = crate::DEFAULT_SECRET)]
    pub api_secret: String,
    /// Account tier: starter, intermediate, pro (Kraken's), or unlimited (no rate limit).
    #[arg(long, default_value = "starter")]
    pub tier: String,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fault to inject at start (repeatable); also `POST /sim/fault {"fault":"<spec>"}` and
    /// `Sim::fault`. Transport: `drop-now`, `drop-after:N` (frames), `drop-every:MS`,
    /// `stall:MS`, `delay-us:D`, `refuse-ws:on|off`, `non-json`. Exchange: `drop-exec-frame`
    /// (a sequence gap), `drop-acks:N` (executed, ack lost), `refuse-exec-sub:N`,
    /// `ignore-exec-sub:N`, `invalidate-tokens`, `req-id-double:on|off`, `ack-after:PERCENT`
    /// (acks after their executions, seeded), `dup-frames:PERCENT`, `unknown-enum:N`,
    /// `corrupt-book:N` (a `book` update a unit off its checksum),
    /// `status:online|cancel_only|maintenance|post_only`. REST: `rest-unavailable:on|off`,
    /// `rest-busy:on|off` (`EService:Busy`, before executing),
    /// `rest-lose-reply:N` (executed, then a 502 HTML page), `rest-reset:N` (executed, then
    /// the connection reset), `rest-delay-ms:MS`, `no-query-permission:on|off`,
    /// `rest-rate-limit` (another client spent the key's REST counter: it stands at its
    /// maximum, and calls are refused with `EAPI:Rate limit exceeded` until it decays). `clear` ends
    /// them all.
    #[arg(long, verbatim_doc_comment)]
    pub fault: Vec<String>,
    /// Turn off the random walk and counterparty flow.
    #[arg(long)]
    pub quiet_market: bool,
    /// Do not enforce Kraken's REST call counter (on by default, at --tier: Starter 15
    /// calls decaying 0.33/s, Intermediate 20 at 0.5/s, Pro 20 at 1/s; history calls cost 2,
    /// order entry 0).
    #[arg(long)]
    pub no_rest_counter: bool,
    /// Start with a trading history: N orders over the N minutes before the start, three in
    /// four filled, every fourth still resting (seeded by --seed), so the first executions
    /// snapshot replays fills older than the connection, as Kraken's does.
    #[arg(long, default_value_t = 0)]
    pub history: usize,
}

/// Starts the simulator, prints its URLs and credentials (flushed), and serves until killed.
pub fn run(a: Args) -> std::process::ExitCode {
    let Some(tier) = Tier::parse(&a.tier) else {
        eprintln!(
            "kraken-sim: unknown tier `{}` (starter, intermediate, pro)",
            a.tier
        );
        return std::process::ExitCode::from(2);
    };
    let cfg = SimConfig {
        ws_addr: a.ws_addr,
        rest_addr: a.rest_addr,
        tls: a.tls,
        api_key: a.api_key,
        api_secret: a.api_secret,
        tier,
        seed: a.seed,
        market_flow: !a.quiet_market,
        faults: a.fault,
        rest_counter: !a.no_rest_counter,
        history: a.history,
        ..SimConfig::default()
    };
    let sim = match Sim::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kraken-sim: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    if let (Some(path), Some(pem)) = (&a.cert_out, sim.ca_pem())
        && let Err(e) = std::fs::write(path, pem)
    {
        eprintln!("kraken-sim: writing {}: {e}", path.display());
        return std::process::ExitCode::from(1);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ws: {}", sim.ws_url());
    let _ = writeln!(out, "rest: {}", sim.rest_url());
    let _ = writeln!(out, "api-key: {}", sim.api_key());
    let _ = writeln!(out, "api-secret: {}", sim.api_secret());
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
