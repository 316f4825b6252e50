//! What a command answers when it succeeds, and how each answer is sent: the one reply path.

use rl_core::leases::LeaseId;
use rl_core::{Decision, Retry};

use crate::redis::context::Ctx;

/// A command's successful answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// RL.HIT and RL.PEEK: five integers.
    Decision(Decision),
    /// RL.MHIT: the five integers of the whole request, then the position (from 1) of the key
    /// whose limit decided it.
    Multi(Decision, usize),
    /// CL.THROTTLE: redis-cell's five integers.
    Cell(Decision),
    /// RL.ACQUIRE: RL.HIT's five integers, then the lease id (a nil when denied).
    Acquired(Decision, Option<LeaseId>),
    /// RL.RELEASE and RL.RENEW: 1 if the lease was held, 0 if not.
    Held(bool),
    Ok,
    /// The server only asked where the keys are (a `getkeys-api` request): they were
    /// declared, and the server expects no reply.
    KeysDeclared,
}

impl Reply {
    pub fn send(&self, ctx: Ctx) {
        match self {
            Reply::Decision(d) => ctx.reply_integers(&decision_fields(d)),
            Reply::Multi(d, deciding) => {
                let [allowed, capacity, remaining, retry, reset] = decision_fields(d);
                let position = as_reply(*deciding as u64 + 1);
                ctx.reply_integers(&[allowed, capacity, remaining, retry, reset, position]);
            }
            Reply::Cell(d) => ctx.reply_integers(&cell_fields(d)),
            Reply::Acquired(d, id) => {
                ctx.reply_integers_and_bulk(&decision_fields(d), id.as_ref().map(LeaseId::as_bytes))
            }
            Reply::Held(held) => ctx.reply_integer(i64::from(*held)),
            Reply::Ok => ctx.reply_ok(),
            Reply::KeysDeclared => {}
        }
    }
}

/// The five integers of a decision: allowed, limit, remaining, retry_after_ms, reset_after_ms.
pub fn decision_fields(d: &Decision) -> [i64; 5] {
    let retry_ms = match d.retry_after {
        Retry::Now => 0,
        Retry::After(wait) => as_reply(wait.ceil_millis()),
        Retry::Never => -1,
    };
    [
        i64::from(d.allowed),
        as_reply(d.capacity),
        as_reply(d.remaining),
        retry_ms,
        as_reply(d.reset_after.ceil_millis()),
    ]
}

/// redis-cell's five integers: limited (1) or allowed (0), the limit, remaining, seconds until
/// a retry may succeed (-1 when allowed, or when the quantity can never fit), seconds until
/// the limit is full again; seconds are rounded up.
pub fn cell_fields(d: &Decision) -> [i64; 5] {
    let seconds = |us: u64| as_reply(us.div_ceil(1_000_000));
    let retry = match d.retry_after {
        Retry::After(wait) => seconds(wait.as_micros()),
        Retry::Now | Retry::Never => -1,
    };
    [
        i64::from(!d.allowed),
        as_reply(d.capacity),
        as_reply(d.remaining),
        retry,
        seconds(d.reset_after.as_micros()),
    ]
}

/// Limits are bounded by i64::MAX and times by a few windows, so this never saturates.
fn as_reply(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
