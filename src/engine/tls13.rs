//! TLS 1.3 records after the handshake, sealed and opened in buffers we own (RFC 8446 §5).
//!
//! rustls does the handshake (certificates verified as always) and keeps the key schedule; this
//! layer takes the traffic keys it hands over (`dangerous_into_kernel_connection`, the API meant
//! for kernel TLS) and does what rustls' record layer would do per record: AEAD with `ring` in
//! place, the nonce from the sequence number, the inner content type. rustls allocates a `Vec`
//! per record in both directions, which is why this exists: here nothing is allocated per
//! record. Sans-IO: bytes in, bytes out, no socket.
//!
//! What a client meets after the handshake, and what it does:
//! - application data: opened in place, handed out;
//! - `NewSessionTicket`: given to rustls (kept for resumption);
//! - `KeyUpdate`: the receiving keys are replaced; if the peer asks, ours are too, announced by
//!   a `KeyUpdate` of our own sealed with the old keys (§4.6.3);
//! - `close_notify`: the end of the stream; any other alert, or anything unexpected: an error
//!   (the connection is dropped and the session reconnects).
//!
//! Our own keys are replaced before the cipher suite's confidentiality limit (AES-GCM's number
//! of records), as rustls would.

use std::ops::Range;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, SupportedCipherSuite};

/// Content types (RFC 8446 §5.1).
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
/// Handshake message types a client may meet after the handshake.
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;
/// The record header: type, legacy version 3.3, length.
pub(crate) const HEADER: usize = 5;
const TAG: usize = 16;
/// Most plaintext one record carries (2^14), and most ciphertext one may hold (§5.2).
const MAX_PLAIN: usize = 1 << 14;
const MAX_CIPHER: usize = MAX_PLAIN + 256;
/// The largest record on the wire: what a receive buffer must be able to hold at once.
pub(crate) const MAX_RECORD: usize = HEADER + MAX_CIPHER;
/// A post-handshake message longer than this is refused (tickets are a few hundred bytes).
const MAX_HANDSHAKE_MESSAGE: usize = 16 * 1024;
/// Records in a row without application data (tickets, key updates, empty records) before
/// the peer is judged to be stalling the reader (rustls allows 32 empty ones).
const MAX_IDLE_RECORDS: u32 = 32;
const USER_CANCELED: u8 = 90;

/// Why the record layer gave up: the connection is to be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A record failed authentication (tampered, or keys out of step).
    #[error("a TLS record failed authentication")]
    BadRecordMac,
    /// A record longer than TLS 1.3 allows.
    #[error("a TLS record longer than allowed")]
    RecordOverflow,
    /// Something TLS 1.3 does not allow here.
    #[error("unexpected TLS message: {0}")]
    Unexpected(&'static str),
    /// The peer sent an alert other than `close_notify` (its description code).
    #[error("TLS alert {0} from the peer")]
    Alert(u8),
    /// Keys could not be taken over or updated.
    #[error("TLS keys: {0}")]
    Keys(String),
}

/// One direction's key, IV and sequence number.
struct Direction {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl Direction {
    fn new(seq: u64, secrets: ConnectionTrafficSecrets) -> Result<Self, TlsError> {
        let (alg, key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return Err(TlsError::Keys("cipher suite not supported".into())),
        };
        let key = UnboundKey::new(alg, key.as_ref())
            .map_err(|_| TlsError::Keys("key of the wrong length".into()))?;
        let iv: [u8; 12] = iv
            .as_ref()
            .try_into()
            .map_err(|_| TlsError::Keys("IV of the wrong length".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            iv,
            seq,
        })
    }

    /// Seals the inner plaintext at `out[start + HEADER..]` (content, type, padding) as one
    /// record, writing its header at `start`. On failure `out` is cut back to `start`: no
    /// plaintext is ever left to be sent.
    fn seal_from(&mut self, out: &mut Vec<u8>, start: usize) -> Result<(), TlsError> {
        let len = out.len() - start - HEADER + TAG;
        let header = [APPLICATION_DATA, 3, 3, (len >> 8) as u8, len as u8];
        out[start..start + HEADER].copy_from_slice(&header);
        let sealed = self.next_nonce().and_then(|nonce| {
            self.key
                .seal_in_place_separate_tag(nonce, Aad::from(header), &mut out[start + HEADER..])
                .map_err(|_| TlsError::Keys("sealing failed".into()))
        });
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// The per-record nonce: the IV XOR the sequence number (§5.3), which then advances.
    fn next_nonce(&mut self) -> Result<Nonce, TlsError> {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or_else(|| TlsError::Keys("sequence numbers exhausted".into()))?;
        Ok(Nonce::assume_unique_for_key(n))
    }
}

/// What one opened record held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Application data: these bytes of the buffer given to [`Records::open`].
    Data(Range<usize>),
    /// A record for the layer itself (a ticket, a key update).
    Nothing,
    /// The peer's `close_notify`: nothing more will come.
    Closed,
}

/// The record layer of one TLS 1.3 connection, client side.
pub(crate) struct Records {
    tx: Direction,
    rx: Direction,
    kernel: KernelConnection<ClientConnectionData>,
    /// A post-handshake message spread over records (rare: tickets fit one).
    handshake: Vec<u8>,
    /// Records sealed with one key before it is replaced.
    tx_limit: u64,
    /// Set after the peer's `close_notify`.
    closed: bool,
    /// Records without application data since the last one with some.
    idle_records: u32,
}

impl Records {
    /// Takes over from rustls after the handshake.
    pub(crate) fn new(
        secrets: ExtractedSecrets,
        kernel: KernelConnection<ClientConnectionData>,
    ) -> Result<Self, TlsError> {
        if kernel.protocol_version() != rustls::ProtocolVersion::TLSv1_3 {
            return Err(TlsError::Keys("not TLS 1.3".into()));
        }
        let limit = match kernel.negotiated_cipher_suite() {
            SupportedCipherSuite::Tls13(s) => s.common.confidentiality_limit,
            _ => return Err(TlsError::Keys("not a TLS 1.3 suite".into())),
        };
        Ok(Self {
            tx: Direction::new(secrets.tx.0, secrets.tx.1)?,
            rx: Direction::new(secrets.rx.0, secrets.rx.1)?,
            kernel,
            handshake: Vec::with_capacity(1024),
            // Replace the key before the limit (rustls does it at the limit itself).
            tx_limit: limit.saturating_sub(limit / 16).max(1),
            closed: false,
            idle_records: 0,
        })
    }

    /// Seals `plain` as application data records appended to `out`. No allocation while `out`
    /// has room.
    pub(crate) fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), TlsError> {
        for chunk in plain.chunks(MAX_PLAIN) {
            self.seal_record(APPLICATION_DATA, chunk, out)?;
        }
        Ok(())
    }

    /// Seals a `close_notify` alert.
    pub(crate) fn seal_close_notify(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
        self.seal_record(ALERT, &[1, 0], out)
    }

    fn seal_record(&mut self, ty: u8, plain: &[u8], out: &mut Vec<u8>) -> Result<(), TlsError> {
        if self.tx.seq >= self.tx_limit {
            self.update_tx(out)?;
        }
        self.seal_with_current(ty, plain, out)
    }

    fn seal_with_current(
        &mut self,
        ty: u8,
        plain: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        out.extend_from_slice(plain);
        out.push(ty);
        self.tx.seal_from(out, start)
    }

    /// Replaces our sending keys: a `KeyUpdate` (not asking the peer to follow) sealed with the
    /// old ones, then the new ones from rustls' key schedule.
    fn update_tx(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
        self.seal_with_current(HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, 0], out)?;
        let (seq, secrets) = self
            .kernel
            .update_tx_secret()
            .map_err(|e| TlsError::Keys(e.to_string()))?;
        self.tx = Direction::new(seq, secrets)?;
        Ok(())
    }

    /// Opens the first record of `buf` if it is all there. Returns how many bytes it took (0:
    /// not a whole record yet) and what it held; application data is decrypted in place and
    /// named by its range in `buf`. Anything this layer must send in answer (a key update) is
    /// appended to `out`.
    pub(crate) fn open(
        &mut self,
        buf: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Opened), TlsError> {
        if self.closed {
            return Ok((0, Opened::Closed));
        }
        let Some(header) = buf.get(..HEADER) else {
            return Ok((0, Opened::Nothing));
        };
        let header: [u8; HEADER] = [header[0], header[1], header[2], header[3], header[4]];
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        match header[0] {
            APPLICATION_DATA => {}
            // A middlebox-compatibility record belongs to the handshake, not after it.
            CHANGE_CIPHER_SPEC => return Err(TlsError::Unexpected("change_cipher_spec")),
            _ => return Err(TlsError::Unexpected("a record not protected")),
        }
        if len > MAX_CIPHER {
            return Err(TlsError::RecordOverflow);
        }
        if len < TAG + 1 {
            return Err(TlsError::BadRecordMac);
        }
        let whole = HEADER + len;
        let Some(record) = buf.get_mut(HEADER..whole) else {
            return Ok((0, Opened::Nothing));
        };
        let nonce = self.rx.next_nonce()?;
        let inner = self
            .rx
            .key
            .open_in_place(nonce, Aad::from(header), record)
            .map_err(|_| TlsError::BadRecordMac)?;
        if inner.len() > MAX_PLAIN + 1 {
            return Err(TlsError::RecordOverflow);
        }
        // The content type is the last byte that is not padding (§5.2).
        let Some(ty_at) = inner.iter().rposition(|&b| b != 0) else {
            return Err(TlsError::Unexpected("a record of padding only"));
        };
        let ty = inner[ty_at];
        let content = &inner[..ty_at];
        if ty != HANDSHAKE && !self.handshake.is_empty() {
            return Err(TlsError::Unexpected(
                "a handshake message cut by other records",
            ));
        }
        // Records that carry no data, in a row, are bounded (as rustls bounds them): a peer
        // must not keep the reader turning without progress.
        if ty == APPLICATION_DATA && ty_at > 0 {
            self.idle_records = 0;
        } else {
            self.idle_records += 1;
            if self.idle_records > MAX_IDLE_RECORDS {
                return Err(TlsError::Unexpected("too many records without data"));
            }
        }
        let opened = match ty {
            APPLICATION_DATA => Opened::Data(HEADER..HEADER + ty_at),
            HANDSHAKE => {
                if content.is_empty() {
                    return Err(TlsError::Unexpected("an empty handshake record"));
                }
                self.handshake.extend_from_slice(content);
                self.on_handshake(out)?;
                Opened::Nothing
            }
            ALERT => match content {
                [_, 0] => {
                    self.closed = true;
                    Opened::Closed
                }
                // `user_canceled` precedes a `close_notify` (§6.1).
                [_, USER_CANCELED] => Opened::Nothing,
                [_, desc] => return Err(TlsError::Alert(*desc)),
                _ => return Err(TlsError::Unexpected("a malformed alert")),
            },
            _ => return Err(TlsError::Unexpected("an unknown content type")),
        };
        Ok((whole, opened))
    }

    /// Handles every whole handshake message gathered so far.
    fn on_handshake(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
        loop {
            let Some(&[ty, a, b, c]) = self.handshake.get(..4) else {
                return Ok(());
            };
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            if len > MAX_HANDSHAKE_MESSAGE {
                return Err(TlsError::Unexpected("a handshake message too long"));
            }
            let Some(body) = self.handshake.get(4..4 + len) else {
                return Ok(());
            };
            match ty {
                NEW_SESSION_TICKET => self
                    .kernel
                    .handle_new_session_ticket(body)
                    .map_err(|e| TlsError::Keys(e.to_string()))?,
                KEY_UPDATE => {
                    let request = match body {
                        [0] => false,
                        [1] => true,
                        _ => return Err(TlsError::Unexpected("a malformed key update")),
                    };
                    // The next record uses the new keys: nothing may follow in this one.
                    if self.handshake.len() != 4 + len {
                        return Err(TlsError::Unexpected("data after a key update"));
                    }
                    let (seq, secrets) = self
                        .kernel
                        .update_rx_secret()
                        .map_err(|e| TlsError::Keys(e.to_string()))?;
                    self.rx = Direction::new(seq, secrets)?;
                    if request {
                        self.update_tx(out)?;
                    }
                }
                _ => {
                    return Err(TlsError::Unexpected(
                        "a handshake message after the handshake",
                    ));
                }
            }
            self.handshake.drain(..4 + len);
        }
    }

    #[cfg(test)]
    fn set_tx_limit(&mut self, records: u64) {
        self.tx_limit = records;
    }
}

#[cfg(test)]
mod tests;
