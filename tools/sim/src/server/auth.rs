//! Authentication of private REST calls: the `API-Key` an account is known by, the nonce, and
//! the `API-Sign` HMAC. (WebSocket requests carry a token instead, which REST's
//! `GetWebSocketsToken` issues and the exchange checks: `Exchange::check_token`.)

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::exchange::Exchange;

/// Authenticates private REST call `name` (its form or JSON parameters `p`, its raw `body`):
/// the `API-Key` header names an account, the `nonce` parses, `API-Sign` is the call's
/// signature with the account's secret, and the nonce is above the account's last, which it
/// then becomes. Gives the account's index, or Kraken's error.
pub(super) fn authenticate(
    ex: &mut Exchange,
    name: &str,
    headers: &HashMap<String, String>,
    p: &Map<String, Value>,
    body: &[u8],
) -> Result<usize, &'static str> {
    let Some(acct) = headers.get("api-key").and_then(|k| ex.account_by_key(k)) else {
        return Err("EAPI:Invalid key");
    };
    let nonce_s = match p.get("nonce") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("EAPI:Invalid nonce"),
    };
    let Ok(nonce) = nonce_s.parse::<u64>() else {
        return Err("EAPI:Invalid nonce");
    };
    // API-Sign = base64(HMAC-SHA512(secret, path ‖ SHA256(nonce ‖ body))).
    let path = format!("/0/private/{name}");
    let mut sha = Sha256::new();
    sha.update(nonce_s.as_bytes());
    sha.update(body);
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(&ex.accounts[acct].secret) else {
        return Err("EAPI:Invalid key");
    };
    mac.update(path.as_bytes());
    mac.update(&sha.finalize());
    let expected = B64.encode(mac.finalize().into_bytes());
    if headers.get("api-sign").map(String::as_str) != Some(expected.as_str()) {
        return Err("EAPI:Invalid signature");
    }
    if nonce <= ex.accounts[acct].last_nonce {
        return Err("EAPI:Invalid nonce");
    }
    ex.accounts[acct].last_nonce = nonce;
    Ok(acct)
}
