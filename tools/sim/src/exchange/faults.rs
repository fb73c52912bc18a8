//! Faults the exchange itself honours, and the system status (which a fault sets).

use serde_json::{Value, json};

use super::Exchange;

/// Injectable faults (the state the exchange itself honours; transport faults are applied by
/// the server).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Drop the next executions frame of each subscription (a sequence gap).
    pub drop_exec_frames: u32,
    /// The next N `book` updates carry one level a unit of its last digit off (their
    /// checksum is the true book's): a client's book no longer matches.
    pub corrupt_book: u32,
    /// REST answers `EService:Unavailable`.
    pub rest_unavailable: bool,
    /// REST answers `EService:Busy` (before executing, like `rest_unavailable`).
    pub rest_busy: bool,
    /// The next N WebSocket order requests are executed but get no ack (lost on the way).
    pub drop_acks: u32,
    /// The next N private REST calls are executed, then answered by the edge with a 502 and an
    /// HTML page instead of Kraken's reply.
    pub rest_lose_reply: u32,
    /// The next N private REST calls are executed, then the connection is reset unanswered.
    pub rest_reset: u32,
    /// Every private REST call waits this long before it executes.
    pub rest_delay_ms: u64,
    /// WebSocket req_ids are echoed after a round trip through a double.
    pub req_id_double: bool,
    /// The next N `executions` subscriptions are refused (`EGeneral:Internal error`).
    pub refuse_exec_subs: u32,
    /// The next N `executions` subscriptions are never answered.
    pub ignore_exec_subs: u32,
    /// The key may trade but not query: order and trade queries answer
    /// `EGeneral:Permission denied`.
    pub no_query_permission: bool,
    /// Percent of order requests whose ack is sent after the executions frames they caused
    /// (seeded; Kraken guarantees neither order).
    pub ack_after_percent: u8,
    /// Percent of executions update frames sent twice (seeded).
    pub dup_percent: u8,
    /// The next N executions update frames carry an `order_status` the docs do not list.
    pub unknown_enum: u32,
}

impl Exchange {
    /// Fault `ack-after:P`: whether this request's ack goes after its stream frames (seeded).
    pub fn ack_after(&mut self) -> bool {
        self.faults.ack_after_percent > 0
            && self.rand() % 100 < u64::from(self.faults.ack_after_percent)
    }

    /// Sets the system status (`online`, `cancel_only`, `maintenance`, `post_only`); queues a
    /// `status` frame for every connection.
    pub fn set_status(&mut self, status: &'static str) -> Value {
        self.status = status;
        json!({"channel": "status", "type": "update", "data": [{"api_version": "v2", "system": status, "version": "2.0.10"}]})
    }
}
