//! `CL.THROTTLE key max_burst count period [quantity]`: redis-cell's command and reply, on the
//! module's GCRA (registered when the module is loaded with `cell-compat yes`).
//!
//! Reply: limited (1) or allowed (0), limit (`max_burst + 1`), remaining, seconds until a
//! retry may succeed (-1 when allowed, or when the quantity can never fit), seconds until the
//! limit is full again; seconds are rounded up.

use crate::api::{self, Ctx, RString};
use crate::limiter::{Decision, Retry};
use crate::{args, metrics, notify};

pub fn run(ctx: Ctx, argv: &[RString]) {
    let (key, max_burst, count, period, quantity) = match argv {
        [_, k, b, c, p] => (k, b, c, p, None),
        [_, k, b, c, p, q] => (k, b, c, p, Some(api::bytes(*q))),
        _ => return api::reply_wrong_arity(ctx),
    };
    let params = args::cell_params(
        api::bytes(*max_burst),
        api::bytes(*count),
        api::bytes(*period),
        quantity,
    );
    let params = match params {
        Ok(params) => params,
        Err(e) => return api::reply_error(ctx, &e.message()),
    };
    match super::hit_key(ctx, *key, &params, notify::THROTTLE) {
        Ok(decision) => {
            metrics::record(decision.allowed);
            api::reply_integers(ctx, &cell_fields(&decision));
        }
        Err(failure) => failure.reply(ctx),
    }
}

/// redis-cell's five integers.
pub fn cell_fields(d: &Decision) -> [i64; 5] {
    let seconds = |us: u64| i64::try_from(us.div_ceil(1_000_000)).unwrap_or(i64::MAX);
    let retry = match d.retry_after {
        Retry::After(wait) => seconds(wait.0),
        Retry::Now | Retry::Never => -1,
    };
    [
        i64::from(!d.allowed),
        i64::try_from(d.limit).unwrap_or(i64::MAX),
        i64::try_from(d.remaining).unwrap_or(i64::MAX),
        retry,
        seconds(d.reset_after.0),
    ]
}
