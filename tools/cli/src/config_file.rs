//! `--config FILE`: one TOML file for the one-shot commands, with environment overrides.
//! A file that holds the API secret must not be readable by group or others.
//!
//! ```toml
//! ws_url = "wss://ws-auth.kraken.com/v2"
//! rest_url = "https://api.kraken.com"
//! api_key = "..."
//! api_secret = "..."          # base64; or leave both out and use the environment
//! symbols = ["BTC/USD", "ETH/USD"]
//! io_core = 2
//! idle = "spin"               # spin | yield | block
//! tier = "pro"                # starter | intermediate | pro
//! breaker_threshold = 5
//! breaker_cooldown_secs = 60
//! dead_man_timeout_secs = 60
//! token_refresh_secs = 780
//! history = 1000
//! ```

use std::path::Path;
use std::time::Duration;

use kraken_exec::engine::{EngineConfig, IdleStrategy};
use kraken_exec::protocol::rest::{ApiSecret, Credentials};
use kraken_exec::risk::Tier;
use serde::Deserialize;

/// The file's settings; every one optional.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub ws_url: Option<String>,
    pub rest_url: Option<String>,
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub ca_file: Option<String>,
    pub symbols: Option<Vec<String>>,
    pub io_core: Option<usize>,
    pub idle: Option<String>,
    pub tier: Option<String>,
    pub breaker_threshold: Option<u32>,
    pub breaker_cooldown_secs: Option<u64>,
    pub dead_man_timeout_secs: Option<u32>,
    pub token_refresh_secs: Option<u64>,
    pub history: Option<usize>,
}

impl FileConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cfg: FileConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        #[cfg(unix)]
        if cfg.api_secret.is_some() {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| e.to_string())?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{} holds an API secret but is readable by others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                ));
            }
        }
        Ok(cfg)
    }

    /// Credentials: the environment (`KRAKEN_API_KEY`, `KRAKEN_API_SECRET`) overrides the file.
    pub fn credentials(&self) -> Result<Credentials, String> {
        let key = std::env::var("KRAKEN_API_KEY")
            .ok()
            .or_else(|| self.api_key.clone())
            .ok_or("KRAKEN_API_KEY is not set (nor api_key in the config file)")?;
        let secret = std::env::var("KRAKEN_API_SECRET")
            .ok()
            .or_else(|| self.api_secret.clone())
            .ok_or("KRAKEN_API_SECRET is not set (nor api_secret in the config file)")?;
        let secret =
            ApiSecret::from_base64(&secret).map_err(|e| format!("KRAKEN_API_SECRET: {e}"))?;
        Ok(Credentials { key, secret })
    }

    /// Applies the file's engine settings to `cfg`.
    pub fn apply(&self, cfg: &mut EngineConfig) -> Result<(), String> {
        if let Some(c) = self.io_core {
            cfg.io_core = Some(c);
        }
        if let Some(i) = &self.idle {
            cfg.idle = match i.as_str() {
                "spin" => IdleStrategy::Spin,
                "yield" => IdleStrategy::Yield,
                "block" => IdleStrategy::Block(Duration::from_millis(1)),
                other => {
                    return Err(format!(
                        "idle: unknown strategy `{other}` (spin, yield, block)"
                    ));
                }
            };
        }
        if let Some(t) = &self.tier {
            cfg.tier = match t.as_str() {
                "starter" => Tier::Starter,
                "intermediate" => Tier::Intermediate,
                "pro" => Tier::Pro,
                other => {
                    return Err(format!(
                        "tier: unknown tier `{other}` (starter, intermediate, pro)"
                    ));
                }
            };
        }
        if let Some(b) = self.breaker_threshold {
            cfg.breaker_threshold = b;
        }
        if let Some(s) = self.breaker_cooldown_secs {
            cfg.breaker_cooldown = Duration::from_secs(s);
        }
        if let Some(d) = self.dead_man_timeout_secs {
            // The file keeps Kraken's form: 0 turns the switch off.
            cfg.dead_man_timeout = (d > 0).then(|| Duration::from_secs(d.into()));
        }
        if let Some(s) = self.token_refresh_secs {
            cfg.token_refresh = Duration::from_secs(s);
        }
        if let Some(h) = self.history {
            cfg.tracker.history_limit = h;
        }
        Ok(())
    }
}
