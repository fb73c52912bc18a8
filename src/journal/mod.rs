//! The journal: an append-only, memory-mapped record of what the engine was asked and told,
//! so that a restarted process knows which fills it has already delivered, which requests had
//! no answer, and where its positions stood.
//!
//! Segments of fixed size (`segment_bytes`), each a file `NNNNNNNN.kxj` mapped whole, holding
//! fixed-size records ([`record`]). An append copies a record into the map: no syscall and no
//! allocation (the page cache makes it survive a crash of the process; [`SyncPolicy`] adds
//! `msync` for a crash of the machine). A full segment is closed and the next one mapped (a
//! syscall, once per `segment_bytes / 256` records); beyond `max_segments` the oldest is
//! deleted, so the journal has a size bound.
//!
//! Opening a journal reads it whole, checks each segment's header (version, account) and each
//! record's CRC: a journal of another account or version is refused; a record that fails its
//! CRC ends the journal there (a torn write), and the rest of that segment is zeroed and
//! reported.

pub mod record;
mod recover;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use memmap2::MmapMut;
use sha2::{Digest, Sha256};

pub use record::{Bad, Entry, FillEntry, RECORD_LEN, SegmentHeader};
pub use recover::{RecoveredOrder, Recovery};

/// The format written by this version.
pub const VERSION: u16 = 2;

/// When appends are forced to disk (`msync`). The page cache survives a crash of the process
/// whatever the policy; these are for a crash of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Never forced (the kernel writes back in its time). No syscall on append.
    #[default]
    None,
    /// At most this long after an append (checked on the next append).
    Periodic(Duration),
    /// Every record (a syscall per append).
    EveryRecord,
}

/// Where and how.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JournalConfig {
    /// The directory of the segments (created if missing).
    pub dir: PathBuf,
    /// Bytes per segment (rounded down to whole records; at least two records). Each segment
    /// an engine writes begins with a carry of its state (the last 50 fills, a record per
    /// pair, two per live order): size segments for many of those.
    pub segment_bytes: usize,
    /// Segments kept (at least two); the oldest beyond this is deleted when a new one starts. What it held
    /// is carried over at the start of every later segment (see [`Journal::take_rotated`]),
    /// so a bounded journal still recovers positions, live orders and the last fills.
    pub max_segments: usize,
    /// When to force appends to disk.
    pub sync: SyncPolicy,
}

impl JournalConfig {
    /// 64 MiB segments (262,144 records each), 16 kept, no forced sync.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: 64 << 20,
            max_segments: 16,
            sync: SyncPolicy::None,
        }
    }
}

/// Why a journal could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file system said no.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Written for another API key.
    #[error("journal {0} belongs to another account; refusing to mix it with this one")]
    OtherAccount(PathBuf),
    /// Written with another list of symbols (records name symbols by their place in it).
    #[error(
        "journal {0} was written with another list of symbols; start with the same list, or another journal"
    )]
    OtherSymbols(PathBuf),
    /// Written by an incompatible version.
    #[error("journal {path} is format version {found}, this build reads version {VERSION}")]
    Version {
        /// The segment.
        path: PathBuf,
        /// Its version.
        found: u16,
    },
    /// A segment without a readable header.
    #[error("journal {0} has no valid header")]
    NoHeader(PathBuf),
}

/// Where a journal's good part ended before its segment did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Offset of the first bad record.
    pub offset: usize,
    /// Why it was bad.
    pub why: Bad,
    /// Non-zero records after it, zeroed.
    pub records_dropped: usize,
}

/// What an opened journal held.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Replay {
    /// Every good record, oldest first: (sequence, time µs, entry). Headers excluded.
    pub entries: Vec<(u64, i64, Entry)>,
    /// A torn or corrupt tail found (and truncated), if any.
    pub torn: Option<TornTail>,
}

/// The journal's record of what the strategy is about to be told (`None`: nothing to keep).
pub(crate) fn entry_of(e: &crate::orders::TrackerEvent) -> Option<Entry> {
    use crate::orders::TrackerEvent as T;
    Some(match e {
        T::Execution(f) => Entry::Fill(FillEntry {
            exec_id: f.exec_id,
            order_id: f.order_id,
            cl_ord_id: f.cl_ord_id,
            symbol: f.symbol,
            side: f.side,
            qty: f.qty,
            price: f.price,
            fee: f.fee.map(|x| x.qty),
            fee_asset: f.fee.map(|x| x.asset).unwrap_or_default(),
            liquidity: f.liquidity,
            timestamp: f.timestamp,
            historical: f.origin == crate::orders::FillOrigin::Historical,
        }),
        T::StatusChange(c) => Entry::Status {
            order_id: c.order_id,
            cl_ord_id: c.cl_ord_id,
            symbol: c.symbol,
            status: c.to,
        },
        T::Accepted(a) => Entry::Ack {
            req_id: a.req_id,
            order_id: a.order_id,
            cl_ord_id: a.cl_ord_id,
        },
        T::Rejected(r) => Entry::Reject {
            req_id: r.req_id?,
            error: crate::ids::InlineStr::truncating(r.error.as_str()),
        },
        T::NotSent(n) => Entry::Reject {
            req_id: n.req_id,
            error: crate::ids::InlineStr::truncating("not sent"),
        },
    })
}

/// The fingerprint of an API key a journal is tied to.
pub fn account_fingerprint(api_key: &str) -> [u8; 16] {
    fingerprint(api_key.as_bytes())
}

/// The fingerprint of the symbol list a journal is tied to.
pub fn symbols_fingerprint<S: AsRef<str>>(symbols: &[S]) -> [u8; 16] {
    let mut all = Vec::new();
    for s in symbols {
        all.extend_from_slice(s.as_ref().as_bytes());
        all.push(b'\n');
    }
    fingerprint(&all)
}

fn fingerprint(b: &[u8]) -> [u8; 16] {
    let h = Sha256::digest(b);
    let mut f = [0u8; 16];
    f.copy_from_slice(&h[..16]);
    f
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}.kxj"))
}

/// The segments in `dir`, by number.
fn segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, JournalError> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let p = e.map_err(io(dir))?.path();
        let n = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".kxj"))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = n {
            v.push((n, p));
        }
    }
    v.sort();
    Ok(v)
}

fn map(path: &Path, len: usize) -> Result<MmapMut, JournalError> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io(path))?;
    let have = f.metadata().map_err(io(path))?.len() as usize;
    if have < len {
        f.set_len(len as u64).map_err(io(path))?;
    }
    let len = have.max(len);
    // Safety: the file is ours (a journal directory one engine writes); nothing truncates it
    // while mapped. memmap2's contract for a file another process might change.
    // Populated: the pages are faulted in now (when a segment is opened), not one by one on
    // the appends that first touch them.
    let m =
        unsafe { memmap2::MmapOptions::new().len(len).populate().map_mut(&f) }.map_err(io(path))?;
    // A shared mapping is populated for reading only: the first write to each page would
    // still fault (the file system allocates it and starts tracking it dirty), 16 records to
    // a page. Faulted in for writing too where the kernel can (Linux 5.14, best effort). The
    // kernel's writeback cleans pages again after its interval (30 s by default): pages an
    // append reaches later than that fault once more (see PERF.md).
    #[cfg(target_os = "linux")]
    let _ = m.advise(memmap2::Advice::PopulateWrite);
    Ok(m)
}

/// An open journal, appending.
pub struct Journal {
    cfg: JournalConfig,
    account: [u8; 16],
    symbols: [u8; 16],
    map: MmapMut,
    segment: u32,
    /// Offset of the next record in the segment.
    pos: usize,
    /// The next record's sequence number.
    seq: u64,
    /// Monotonic time of the last forced sync (Periodic).
    synced_ns: u64,
    /// The last record's bytes, built here so an append allocates nothing.
    scratch: [u8; RECORD_LEN],
    /// Appends that failed ([`Journal::record`]).
    failures: u64,
    /// A new segment began since [`Journal::take_rotated`] last looked.
    rotated: bool,
    /// The last fills on record (a ring; `recent_at` is the oldest once full): what Kraken's
    /// snapshot can replay, carried over into each new segment.
    recent: arrayvec::ArrayVec<FillEntry, RECENT_FILLS>,
    recent_at: usize,
}

/// Fills a segment's carry holds again: as many as Kraken's executions snapshot replays.
pub const RECENT_FILLS: usize = 50;

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.cfg.dir)
            .field("segment", &self.segment)
            .field("pos", &self.pos)
            .field("seq", &self.seq)
            .finish()
    }
}

impl Journal {
    /// Opens (or creates) the journal in `cfg.dir` for the account of `api_key` trading
    /// `symbols`: reads what is there, truncates a torn tail, and positions for appending
    /// after the last good record.
    pub fn open<S: AsRef<str>>(
        cfg: JournalConfig,
        api_key: &str,
        symbols: &[S],
    ) -> Result<(Journal, Replay), JournalError> {
        fs::create_dir_all(&cfg.dir).map_err(io(&cfg.dir))?;
        let account = account_fingerprint(api_key);
        let symbols = symbols_fingerprint(symbols);
        let seg_len = (cfg.segment_bytes / RECORD_LEN).max(2) * RECORD_LEN;
        let mut replay = Replay::default();
        let existing = segments(&cfg.dir)?;
        let mut last: Option<(u32, MmapMut, usize)> = None;
        let mut seq = 1;
        for (i, (n, path)) in existing.iter().enumerate() {
            let newest = i + 1 == existing.len();
            let len = fs::metadata(path).map_err(io(path))?.len() as usize;
            if len < RECORD_LEN && newest {
                // Created, not yet sized (a crash at rotation): started again below.
                break;
            }
            let mut m = map(path, 0)?;
            let header = m
                .get(..RECORD_LEN)
                .and_then(|b| <&[u8; RECORD_LEN]>::try_from(b).ok())
                .map(Entry::decode);
            match header {
                Some(Ok((_, _, Entry::Header(h)))) => {
                    if h.version != VERSION {
                        return Err(JournalError::Version {
                            path: path.clone(),
                            found: h.version,
                        });
                    }
                    if h.account != account {
                        return Err(JournalError::OtherAccount(path.clone()));
                    }
                    if h.symbols != symbols {
                        return Err(JournalError::OtherSymbols(path.clone()));
                    }
                }
                // The newest segment may have been created and not yet headed (a crash at
                // rotation): it is started again below.
                Some(Err(Bad::Empty)) if newest => break,
                _ => return Err(JournalError::NoHeader(path.clone())),
            }
            let mut pos = RECORD_LEN;
            while pos + RECORD_LEN <= m.len() {
                let b: &[u8; RECORD_LEN] = m[pos..pos + RECORD_LEN]
                    .try_into()
                    .expect("a record's length");
                match Entry::decode(b) {
                    Ok((s, t, e)) => {
                        seq = s + 1;
                        replay.entries.push((s, t, e));
                        pos += RECORD_LEN;
                    }
                    Err(why) => {
                        if why != Bad::Empty {
                            // Torn: zero from here to the end, and say so.
                            let dropped = m[pos..]
                                .chunks(RECORD_LEN)
                                .filter(|c| c.iter().any(|&x| x != 0))
                                .count();
                            m[pos..].fill(0);
                            m.flush().map_err(io(path))?;
                            replay.torn = Some(TornTail {
                                path: path.clone(),
                                offset: pos,
                                why,
                                records_dropped: dropped,
                            });
                        }
                        break;
                    }
                }
            }
            last = Some((*n, m, pos));
        }
        let mut j = match last {
            Some((n, m, pos)) => Journal {
                cfg,
                account,
                symbols,
                map: m,
                segment: n,
                pos,
                seq,
                synced_ns: 0,
                scratch: [0; RECORD_LEN],
                failures: 0,
                rotated: false,
                recent: arrayvec::ArrayVec::new(),
                recent_at: 0,
            },
            None => {
                let n = existing.first().map_or(0, |(n, _)| *n);
                let path = segment_path(&cfg.dir, n);
                let m = map(&path, seg_len)?;
                let mut j = Journal {
                    cfg,
                    account,
                    symbols,
                    map: m,
                    segment: n,
                    pos: 0,
                    seq,
                    synced_ns: 0,
                    scratch: [0; RECORD_LEN],
                    failures: 0,
                    rotated: false,
                    recent: arrayvec::ArrayVec::new(),
                    recent_at: 0,
                };
                j.write_header();
                j
            }
        };
        if j.pos == 0 {
            j.write_header();
        }
        // The last fills on record, each once (a carry holds fills again).
        let mut seen = std::collections::HashSet::new();
        let last: Vec<FillEntry> = replay
            .entries
            .iter()
            .rev()
            .filter_map(|(_, _, e)| match e {
                Entry::Fill(f) if seen.insert(f.exec_id) => Some(*f),
                _ => None,
            })
            .take(RECENT_FILLS)
            .collect();
        for f in last.iter().rev() {
            j.remember(f);
        }
        Ok((j, replay))
    }

    fn write_header(&mut self) {
        let h = Entry::Header(SegmentHeader {
            version: VERSION,
            segment: self.segment,
            account: self.account,
            symbols: self.symbols,
        });
        h.encode(0, 0, &mut self.scratch);
        self.map[..RECORD_LEN].copy_from_slice(&self.scratch);
        self.pos = RECORD_LEN;
    }

    /// Appends a record at wall-clock `time_us`; `now_ns` (monotonic) paces a periodic sync.
    /// No allocation; no syscall unless the segment is full or the sync policy asks.
    pub fn append(&mut self, e: &Entry, time_us: i64, now_ns: u64) -> Result<u64, JournalError> {
        if let Entry::Fill(f) = e {
            self.remember(f);
        }
        self.append_entry(e, time_us, now_ns)
    }

    fn append_entry(&mut self, e: &Entry, time_us: i64, now_ns: u64) -> Result<u64, JournalError> {
        if self.pos + RECORD_LEN > self.map.len() {
            self.rotate()?;
        }
        let seq = self.seq;
        // Built in place, its CRC written last: a crash mid-record leaves one that fails it.
        let Some(slot) = self
            .map
            .get_mut(self.pos..self.pos + RECORD_LEN)
            .and_then(|b| <&mut [u8; RECORD_LEN]>::try_from(b).ok())
        else {
            return Err(JournalError::Io {
                path: self.cfg.dir.clone(),
                source: std::io::Error::other("record outside the segment"),
            });
        };
        e.encode(seq, time_us, slot);
        let at = self.pos;
        self.pos += RECORD_LEN;
        self.seq += 1;
        match self.cfg.sync {
            SyncPolicy::None => {}
            SyncPolicy::EveryRecord => self
                .map
                .flush_range(at, RECORD_LEN)
                .map_err(io(&self.cfg.dir))?,
            SyncPolicy::Periodic(every) => {
                if now_ns.saturating_sub(self.synced_ns) >= every.as_nanos() as u64 {
                    self.map.flush_async().map_err(io(&self.cfg.dir))?;
                    self.synced_ns = now_ns;
                }
            }
        }
        Ok(seq)
    }

    /// Closes the full segment and starts the next; deletes the oldest beyond the bound.
    fn rotate(&mut self) -> Result<(), JournalError> {
        self.map.flush().map_err(io(&self.cfg.dir))?;
        let seg_len = (self.cfg.segment_bytes / RECORD_LEN).max(2) * RECORD_LEN;
        let next = self.segment + 1;
        let path = segment_path(&self.cfg.dir, next);
        self.map = map(&path, seg_len)?;
        self.segment = next;
        self.write_header();
        self.rotated = true;
        let all = segments(&self.cfg.dir)?;
        // At least two: the newest begins with no carry until its writer adds it, so the one
        // before (which has one) must stay until then.
        let keep = self.cfg.max_segments.max(2);
        if all.len() > keep {
            for (_, old) in &all[..all.len() - keep] {
                fs::remove_file(old).map_err(io(old))?;
            }
        }
        Ok(())
    }

    /// Appends, counting a failure instead of returning it: for the engine, which trades on
    /// when its file system refuses a new segment ([`Journal::failures`] says so).
    pub fn record(&mut self, e: &Entry, time_us: i64, now_ns: u64) {
        if self.append(e, time_us, now_ns).is_err() {
            self.failures += 1;
        }
    }

    fn remember(&mut self, f: &FillEntry) {
        if self.recent.is_full() {
            self.recent[self.recent_at] = *f;
            self.recent_at = (self.recent_at + 1) % RECENT_FILLS;
        } else {
            self.recent.push(*f);
        }
    }

    /// Appends again the last fills on record (up to [`RECENT_FILLS`], oldest first): a
    /// segment's carry, so that what Kraken's snapshot replays stays on record when the
    /// segments that held them are deleted.
    pub fn carry_recent_fills(&mut self, time_us: i64, now_ns: u64) {
        let recent = self.recent.clone();
        let (newer, older) = recent.split_at(self.recent_at.min(recent.len()));
        for f in older.iter().chain(newer) {
            // Not through `append`: they are remembered already.
            if self
                .append_entry(&Entry::Fill(*f), time_us, now_ns)
                .is_err()
            {
                self.failures += 1;
            }
        }
    }

    /// Whether a new segment began since the last call: its writer then carries over what
    /// the oldest segments would take with them when the size bound deletes them (positions,
    /// live orders), so that every suffix of segments recovers the same state.
    pub fn take_rotated(&mut self) -> bool {
        std::mem::take(&mut self.rotated)
    }

    /// Appends that [`Journal::record`] could not make.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Forces everything appended so far to disk.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.map.flush().map_err(io(&self.cfg.dir))
    }

    /// The next record's sequence number.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }
}

/// Reads a journal without opening it for writing (a torn tail is reported, not truncated):
/// for `kraken-exec journal PATH`. The account is not checked.
pub fn read(dir: &Path) -> Result<Replay, JournalError> {
    let mut replay = Replay::default();
    for (_, path) in segments(dir)? {
        let bytes = fs::read(&path).map_err(io(&path))?;
        for (i, c) in bytes.chunks_exact(RECORD_LEN).enumerate() {
            let b: &[u8; RECORD_LEN] = c.try_into().expect("a record's length");
            match Entry::decode(b) {
                Ok((_, _, Entry::Header(h))) if h.version != VERSION => {
                    return Err(JournalError::Version {
                        path,
                        found: h.version,
                    });
                }
                Ok((_, _, Entry::Header(_))) => {}
                Ok(r) => replay.entries.push(r),
                Err(Bad::Empty) => break,
                Err(why) => {
                    replay.torn = Some(TornTail {
                        path: path.clone(),
                        offset: i * RECORD_LEN,
                        why,
                        records_dropped: 0,
                    });
                    break;
                }
            }
        }
    }
    Ok(replay)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ids::{ClOrdId, OrderId, SymbolId};
    use crate::protocol::messages::Method;
    use crate::time::Timestamp;
    use crate::types::{Liquidity, OrderStatus, Side};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kxj-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn entries() -> Vec<Entry> {
        let oid = OrderId::new("OAVY7T-MV5VK-KHDF5X").unwrap();
        let cl = ClOrdId::new("2c6be801-1f53-4f79-a0bb-4ea1c95dfae9").unwrap();
        vec![
            Entry::Intent {
                req_id: crate::ids::RequestId(1 << 52),
                method: Method::AddOrder,
                cl_ord_id: Some(cl),
                order_id: None,
                symbol: SymbolId(3),
                side: Some(Side::Sell),
                qty: Some(dec!(0.00012345)),
                price: Some(dec!(65000.1)),
                deadline: Some(Timestamp(1_735_689_605_000_000)),
                validate: false,
            },
            Entry::Intent {
                req_id: crate::ids::RequestId(2),
                method: Method::CancelOrder,
                cl_ord_id: None,
                order_id: Some(oid),
                symbol: SymbolId::UNKNOWN,
                side: None,
                qty: None,
                price: None,
                deadline: None,
                validate: true,
            },
            Entry::Ack {
                req_id: crate::ids::RequestId(1 << 52),
                order_id: Some(oid),
                cl_ord_id: Some(cl),
            },
            Entry::Reject {
                req_id: crate::ids::RequestId(3),
                error: crate::ids::InlineStr::truncating("EOrder:Insufficient funds"),
            },
            Entry::Fill(FillEntry {
                exec_id: crate::ids::ExecId::new("TZX2WP-XSEOP-FJP7PL").unwrap(),
                order_id: oid,
                cl_ord_id: Some(cl),
                symbol: SymbolId(0),
                side: Some(Side::Buy),
                qty: dec!(0.5),
                price: dec!(64999.9),
                fee: Some(dec!(0.0845)),
                fee_asset: crate::ids::AssetCode::new("USD").unwrap(),
                liquidity: Some(Liquidity::Maker),
                timestamp: Some(Timestamp(1_735_689_600_123_456)),
                historical: true,
            }),
            Entry::Status {
                order_id: Some(oid),
                cl_ord_id: None,
                symbol: SymbolId(2),
                status: OrderStatus::PartiallyFilled,
            },
            Entry::Checkpoint {
                sequence: u64::MAX,
                last_fill: Timestamp(-1),
            },
            Entry::Start {
                instance: 0x0123_4567_89ab_cdef,
            },
        ]
    }

    #[test]
    fn every_record_reads_back_as_written() {
        let mut b = [0u8; RECORD_LEN];
        for (i, e) in entries().into_iter().enumerate() {
            e.encode(i as u64 + 1, 42, &mut b);
            assert_eq!(Entry::decode(&b), Ok((i as u64 + 1, 42, e)));
        }
        // Any one bit flipped anywhere is caught by the CRC.
        entries()[4].encode(9, 9, &mut b);
        for bit in 0..RECORD_LEN * 8 {
            let mut c = b;
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(Entry::decode(&c).is_err(), "bit {bit}");
        }
        assert_eq!(Entry::decode(&[0; RECORD_LEN]), Err(Bad::Empty));
    }

    #[test]
    fn a_reopened_journal_replays_everything_and_appends_after_it() {
        let d = dir("reopen");
        let (mut j, r) = Journal::open(JournalConfig::new(&d), "key", &["BTC/USD"]).unwrap();
        assert!(r.entries.is_empty() && r.torn.is_none());
        for e in entries() {
            j.append(&e, 7, 0).unwrap();
        }
        drop(j);
        let (mut j, r) = Journal::open(JournalConfig::new(&d), "key", &["BTC/USD"]).unwrap();
        let got: Vec<Entry> = r.entries.iter().map(|x| x.2).collect();
        assert_eq!(got, entries());
        assert_eq!(
            r.entries.iter().map(|x| x.0).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        assert_eq!(j.append(&entries()[0], 8, 0).unwrap(), 9);
        drop(j);
        assert_eq!(read(&d).unwrap().entries.len(), 9);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_at_the_last_good_record_and_reported() {
        let d = dir("torn");
        let (mut j, _) = Journal::open(JournalConfig::new(&d), "key", &["BTC/USD"]).unwrap();
        for e in entries() {
            j.append(&e, 7, 0).unwrap();
        }
        drop(j);
        // A crash mid-write of the fifth record: half of it reached the page cache.
        let seg = segment_path(&d, 0);
        let mut bytes = fs::read(&seg).unwrap();
        let fifth = 5 * RECORD_LEN;
        bytes[fifth + 100..fifth + RECORD_LEN].fill(0);
        fs::write(&seg, &bytes).unwrap();
        assert_eq!(
            read(&d).unwrap().entries.len(),
            4,
            "read-only: up to the tear"
        );
        let (mut j, r) = Journal::open(JournalConfig::new(&d), "key", &["BTC/USD"]).unwrap();
        assert_eq!(r.entries.len(), 4);
        let torn = r.torn.unwrap();
        assert_eq!(
            (torn.offset, torn.why, torn.records_dropped),
            (fifth, Bad::Checksum, 4)
        );
        // Appending goes on where the good part ends, numbered after it.
        assert_eq!(j.append(&entries()[6], 8, 0).unwrap(), 5);
        drop(j);
        let (_, r) = Journal::open(JournalConfig::new(&d), "key", &["BTC/USD"]).unwrap();
        assert_eq!(r.entries.len(), 5);
        assert!(r.torn.is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_journal_of_another_account_or_version_is_refused() {
        let d = dir("account");
        let (mut j, _) = Journal::open(JournalConfig::new(&d), "key", &["BTC/USD"]).unwrap();
        j.append(&entries()[0], 7, 0).unwrap();
        drop(j);
        assert!(matches!(
            Journal::open(JournalConfig::new(&d), "another key", &["BTC/USD"]),
            Err(JournalError::OtherAccount(_))
        ));
        assert!(matches!(
            Journal::open(JournalConfig::new(&d), "key", &["BTC/USD", "ETH/USD"]),
            Err(JournalError::OtherSymbols(_))
        ));
        // A header of the next version, CRC and all.
        let seg = segment_path(&d, 0);
        let mut bytes = fs::read(&seg).unwrap();
        let mut h = [0u8; RECORD_LEN];
        Entry::Header(SegmentHeader {
            version: VERSION + 1,
            segment: 0,
            account: account_fingerprint("key"),
            symbols: symbols_fingerprint(&["BTC/USD"]),
        })
        .encode(0, 0, &mut h);
        bytes[..RECORD_LEN].copy_from_slice(&h);
        fs::write(&seg, &bytes).unwrap();
        assert!(matches!(
            Journal::open(JournalConfig::new(&d), "key", &["BTC/USD"]),
            Err(JournalError::Version { found, .. }) if found == VERSION + 1
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn segments_rotate_and_only_the_newest_are_kept() {
        let d = dir("rotate");
        let cfg = JournalConfig {
            segment_bytes: 8 * RECORD_LEN,
            max_segments: 3,
            ..JournalConfig::new(&d)
        };
        let (mut j, _) = Journal::open(cfg.clone(), "key", &["BTC/USD"]).unwrap();
        // 7 records per segment after its header: 50 records fill 8 segments.
        for i in 0..50u64 {
            let e = Entry::Checkpoint {
                sequence: i,
                last_fill: Timestamp(0),
            };
            j.append(&e, 0, 0).unwrap();
        }
        drop(j);
        let kept = segments(&d).unwrap();
        assert_eq!(
            kept.iter().map(|k| k.0).collect::<Vec<_>>(),
            [5, 6, 7],
            "the three newest"
        );
        let (mut j, r) = Journal::open(cfg.clone(), "key", &["BTC/USD"]).unwrap();
        let seqs: Vec<u64> = r.entries.iter().map(|x| x.0).collect();
        assert_eq!(seqs, (36..=50).collect::<Vec<_>>());
        assert_eq!(j.append(&entries()[0], 0, 0).unwrap(), 51);
        // A crash right after the next segment was created, before its header: started again.
        drop(j);
        fs::write(segment_path(&d, 8), b"").unwrap();
        let (mut j, r) = Journal::open(cfg, "key", &["BTC/USD"]).unwrap();
        assert_eq!(r.entries.len(), 16);
        assert_eq!(j.append(&entries()[1], 0, 0).unwrap(), 52);
        fs::remove_dir_all(&d).unwrap();
    }
}
