//! kraken-sim: a Kraken Spot exchange simulator speaking WebSocket v2 and the REST endpoints a
//! WS trading client needs, faithful to Kraken as `docs/kraken-protocol.md` describes it, and
//! strict about what clients send. Tests and benchmarks start it in-process on ephemeral ports;
//! the `kraken-sim` binary runs it standalone.
//!
//! ```no_run
//! let sim = kraken_sim::Sim::start(kraken_sim::SimConfig::default()).unwrap();
//! println!("ws: {}  rest: {}", sim.ws_url(), sim.rest_url());
//! ```

pub mod book;
pub mod cli;
pub mod exchange;
pub mod server;
pub mod tape;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use rust_decimal::Decimal;
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

pub use exchange::{Account, Exchange, Tier, default_pairs};
pub use server::Shared;

/// Default API key.
pub const DEFAULT_KEY: &str = "sim-api-key";
/// Default API secret (base64).
pub const DEFAULT_SECRET: &str = "c2ltLXNlY3JldC1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24tMDEyMzQ1Njc4OQ==";

/// How to start a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// WebSocket listen address.
    pub ws_addr: String,
    /// REST listen address.
    pub rest_addr: String,
    /// Serve wss:// and https:// with a fresh certificate for `localhost`.
    pub tls: bool,
    /// The API key.
    pub api_key: String,
    /// The API secret (base64).
    pub api_secret: String,
    /// Account tier.
    pub tier: Tier,
    /// Seed of the synthetic market.
    pub seed: u64,
    /// Random walk and counterparty flow on.
    pub market_flow: bool,
    /// Market step interval.
    pub walk_interval: Duration,
    /// Faults applied at start.
    pub faults: Vec<String>,
    /// Kraken's REST call counter enforced at `tier` (`EAPI:Rate limit exceeded` past it).
    pub rest_counter: bool,
    /// A trading history the account starts with: this many orders over as many minutes
    /// before the start (seeded by `seed`; see [`Exchange::seed_history`]).
    pub history: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            ws_addr: "127.0.0.1:0".into(),
            rest_addr: "127.0.0.1:0".into(),
            tls: false,
            api_key: DEFAULT_KEY.into(),
            api_secret: DEFAULT_SECRET.into(),
            tier: Tier::Starter,
            seed: 1,
            market_flow: true,
            walk_interval: Duration::from_millis(200),
            faults: Vec::new(),
            rest_counter: true,
            history: 0,
        }
    }
}

/// A running simulator.
pub struct Sim {
    shared: Arc<Shared>,
    ws_url: String,
    rest_url: String,
    ca_pem: Option<String>,
    cfg: SimConfig,
}

impl Sim {
    /// Starts the servers and the ticker.
    pub fn start(cfg: SimConfig) -> Result<Sim, String> {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(&cfg.api_secret)
            .map_err(|e| format!("api secret: {e}"))?;
        let mut ex = Exchange::new(
            default_pairs(),
            vec![Account::new(&cfg.api_key, &secret, cfg.tier)],
            cfg.seed,
        );
        ex.market_flow = cfg.market_flow;
        ex.rest_counter = cfg.rest_counter;
        let shared = Arc::new(Shared::new(ex));
        if cfg.history > 0 {
            let now = shared.now();
            shared.ex().seed_history(0, cfg.history, now, cfg.seed);
        }
        for f in &cfg.faults {
            shared.fault(f)?;
        }
        let (tls, ca_pem) = if cfg.tls {
            let ck = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .map_err(|e| e.to_string())?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let sc = ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
                .with_single_cert(vec![ck.cert.der().clone()], key)
                .map_err(|e| e.to_string())?;
            (Some(Arc::new(sc)), Some(ck.cert.pem()))
        } else {
            (None, None)
        };
        let (wl, wa) =
            server::bind(&cfg.ws_addr).map_err(|e| format!("ws bind {}: {e}", cfg.ws_addr))?;
        let (rl, ra) = server::bind(&cfg.rest_addr)
            .map_err(|e| format!("rest bind {}: {e}", cfg.rest_addr))?;
        {
            let (s, t) = (shared.clone(), tls.clone());
            std::thread::Builder::new()
                .name("sim-ws-accept".into())
                .spawn(move || server::serve_ws(wl, t, s))
                .map_err(|e| e.to_string())?;
        }
        {
            let (s, t) = (shared.clone(), tls.clone());
            std::thread::Builder::new()
                .name("sim-rest-accept".into())
                .spawn(move || server::serve_rest(rl, t, s))
                .map_err(|e| e.to_string())?;
        }
        {
            let s = shared.clone();
            let walk = cfg.walk_interval.as_millis() as u64;
            std::thread::Builder::new()
                .name("sim-ticker".into())
                .spawn(move || server::ticker(s, 10, walk.max(1)))
                .map_err(|e| e.to_string())?;
        }
        let host = if cfg.tls {
            "localhost".to_string()
        } else {
            wa.ip().to_string()
        };
        Ok(Sim {
            ws_url: format!(
                "{}://{host}:{}/v2",
                if cfg.tls { "wss" } else { "ws" },
                wa.port()
            ),
            rest_url: format!(
                "{}://{}:{}",
                if cfg.tls { "https" } else { "http" },
                if cfg.tls {
                    "localhost".to_string()
                } else {
                    ra.ip().to_string()
                },
                ra.port()
            ),
            shared,
            ca_pem,
            cfg,
        })
    }

    /// `ws://` or `wss://…/v2`.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// `http://` or `https://host:port`.
    pub fn rest_url(&self) -> &str {
        &self.rest_url
    }

    /// The API key.
    pub fn api_key(&self) -> &str {
        &self.cfg.api_key
    }

    /// The API secret (base64).
    pub fn api_secret(&self) -> &str {
        &self.cfg.api_secret
    }

    /// The certificate (PEM) clients must trust, when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Simulated time (ns since the epoch).
    pub fn now(&self) -> u64 {
        self.shared.now()
    }

    /// Moves simulated time forward (token expiry, order ages, dead man's switch, GTD).
    pub fn advance(&self, d: Duration) {
        self.shared
            .clock_offset_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        let now = self.shared.now();
        self.shared.ex().tick(now, false);
    }

    /// The ledger of truth: every order's final state and every fill.
    pub fn ledger(&self) -> Value {
        self.shared.ex().ledger()
    }

    /// Sets the reference price; resting orders it crosses fill, triggers fire.
    pub fn set_reference_price(&self, symbol: &str, price: Decimal) -> Result<(), String> {
        let now = self.shared.now();
        let mut ex = self.shared.ex();
        let pi = ex
            .pairs
            .iter()
            .position(|p| p.symbol == symbol)
            .ok_or("unknown symbol")?;
        ex.set_reference_price(pi, price, now);
        Ok(())
    }

    /// An aggressive counterparty order taking `frac` of the best resting order on the other
    /// side (`buy`: the counterparty buys, hitting resting sells).
    pub fn inject_aggressive_order(
        &self,
        symbol: &str,
        buy: bool,
        frac: Decimal,
    ) -> Result<(), String> {
        let now = self.shared.now();
        let mut ex = self.shared.ex();
        let pi = ex
            .pairs
            .iter()
            .position(|p| p.symbol == symbol)
            .ok_or("unknown symbol")?;
        ex.counterparty(pi, buy, frac, now);
        Ok(())
    }

    /// Applies a fault (see [`Shared::fault`]).
    pub fn fault(&self, spec: &str) -> Result<(), String> {
        self.shared.fault(spec)
    }

    /// Runs `f` on the exchange state.
    pub fn with_exchange<R>(&self, f: impl FnOnce(&mut Exchange) -> R) -> R {
        f(&mut self.shared.ex())
    }

    /// Stops accepting and closes connections.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown();
    }
}
