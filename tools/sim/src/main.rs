//! `kraken-sim`: the simulator, standalone.

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use kraken_sim::{Sim, SimConfig, Tier};

#[derive(Parser)]
#[command(
    name = "kraken-sim",
    about = "A Kraken Spot exchange simulator (WebSocket v2 + REST)"
)]
struct Args {
    /// WebSocket listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    ws_addr: String,
    /// REST listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    rest_addr: String,
    /// Serve wss:// and https:// (certificate from rcgen).
    #[arg(long)]
    tls: bool,
    /// Where to write the certificate clients must trust (with --tls).
    #[arg(long)]
    cert_out: Option<std::path::PathBuf>,
    /// API key.
    #[arg(long, default_value = kraken_sim::DEFAULT_KEY)]
    api_key: String,
    /// API secret (base64).
    #[arg(long, default_value = kraken_sim::DEFAULT_SECRET)]
    api_secret: String,
    /// Account tier: starter, intermediate, pro (Kraken's), or unlimited (no rate limit).
    #[arg(long, default_value = "starter")]
    tier: String,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fault to inject at start (repeatable), e.g. `drop-every:5000`, `delay-us:200`.
    #[arg(long)]
    fault: Vec<String>,
    /// Turn off the random walk and counterparty flow.
    #[arg(long)]
    quiet_market: bool,
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
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
