//! One small handler per command, and what every handler shares: the panic guard and the
//! shape of the decision reply.

mod hit;
mod mhit;
mod peek;
mod registry;
mod set_state;
mod throttle;

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use crate::api::{self, Ctx, Key, RString};
use crate::limiter::{self, Decision, Params, Retry};
use crate::store::{self, Unstorable, WrongType};
use crate::{args, config, notify};

pub use registry::register;

/// The body of a command: replies exactly once, as its last step.
type Handler = fn(Ctx, &[RString]);

/// Runs a handler so that nothing in it can take the server down: a panic (a bug, never an
/// input) is caught and answered with an error instead of aborting redis-server.
fn guarded(ctx: Ctx, argv: *mut RString, argc: c_int, handler: Handler) -> c_int {
    let args = unsafe { api::args(argv, argc) };
    if catch_unwind(AssertUnwindSafe(|| handler(ctx, args))).is_err() {
        api::reply_error(
            ctx,
            "ERR internal error in the rl module; see the server log",
        );
    }
    raw::REDISMODULE_OK as c_int
}

/// `key limit window [options]`, the arguments of RL.HIT and RL.PEEK: the key and the limit,
/// or `None` once the error has been answered.
fn key_and_limit(ctx: Ctx, argv: &[RString]) -> Option<(RString, Params)> {
    let [_, key, limit, window, options @ ..] = argv else {
        api::reply_wrong_arity(ctx);
        return None;
    };
    let options = options.iter().map(|&s| api::bytes(s));
    let default = config::default_algorithm();
    match args::hit_params(api::bytes(*limit), api::bytes(*window), options, default) {
        Ok(params) => Some((*key, params)),
        Err(e) => {
            api::reply_error(ctx, &e.message());
            None
        }
    }
}

/// Why a consuming command could not answer with a decision.
enum Failure {
    WrongType,
    Unstorable(Unstorable),
}

impl From<WrongType> for Failure {
    fn from(_: WrongType) -> Failure {
        Failure::WrongType
    }
}

impl From<Unstorable> for Failure {
    fn from(e: Unstorable) -> Failure {
        Failure::Unstorable(e)
    }
}

impl Failure {
    fn reply(&self, ctx: Ctx) {
        match self {
            Failure::WrongType => api::reply_wrong_type(ctx),
            Failure::Unstorable(Unstorable(why)) => api::reply_error(
                ctx,
                &format!("ERR internal error in the rl module: refused to store a state ({why})"),
            ),
        }
    }
}

/// The core of every consuming command: open the key, decide, store what changed (announced
/// as `event`).
fn hit_key(ctx: Ctx, name: RString, params: &Params, event: &CStr) -> Result<Decision, Failure> {
    let key = Key::open(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE);
    let stored = store::read(&key)?;
    let outcome = limiter::hit(stored.get(), params, api::now());
    if let Some(state) = outcome.write() {
        store::write(&key, &stored, state, event)?;
    }
    if !outcome.decision.allowed {
        notify::denied(ctx, name);
    }
    Ok(outcome.decision)
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
        as_reply(d.limit),
        as_reply(d.remaining),
        retry_ms,
        as_reply(d.reset_after.ceil_millis()),
    ]
}

/// Limits are bounded by i64::MAX and times by a few windows, so this never saturates.
fn as_reply(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
