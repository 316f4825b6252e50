//! `RL.MHIT numkeys key [key ...] LIMIT limit window [ALGO a] [BURST n] [LIMIT ...] [COST n]`:
//! one request checked against several limits, all or nothing. The i-th LIMIT clause applies
//! to the i-th key. If every limit admits the request, every one consumes it; if any denies,
//! none does.
//!
//! Reply: the five fields of RL.HIT for the whole request (see `limiter::multi::combine`),
//! then the 1-based position of the key whose limit decided it.

use redis_module::raw;

use super::Failure;
use crate::api::{self, Ctx, Key, RString};
use crate::args::{self, ArgError, Limits, MAX_KEYS};
use crate::bounded::Bounded;
use crate::limiter::{self, multi, Decision, Params, State};
use crate::store::{self, Stored, WrongType};
use crate::{config, metrics, notify};

/// How RL.MHIT uses its keys (REDISMODULE_CMD_KEY_* flags).
pub const KEY_FLAGS: u32 =
    raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_ACCESS | raw::REDISMODULE_CMD_KEY_UPDATE;

pub fn run(ctx: Ctx, argv: &[RString]) {
    if api::is_keys_position_request(ctx) {
        return declare_keys(ctx, argv);
    }
    let [_, numkeys, rest @ ..] = argv else {
        return api::reply_wrong_arity(ctx);
    };
    let limits = match parse(*numkeys, rest) {
        Ok(limits) => limits,
        Err(e) => return api::reply_error(ctx, &e.message()),
    };
    let mut keys: Bounded<(Key, Stored), MAX_KEYS> = Bounded::new();
    for &name in &rest[..limits.len()] {
        let key = Key::open(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE);
        match store::read(&key) {
            // No more keys than limits, and no more limits than MAX_KEYS.
            Ok(stored) => {
                let _ = keys.push((key, stored));
            }
            Err(WrongType) => return api::reply_wrong_type(ctx),
        }
    }
    let keys = keys.as_slice();
    let limits = limits.as_slice();

    let now = api::now();
    let mut outcomes: Bounded<limiter::Outcome, MAX_KEYS> = Bounded::new();
    for ((_, stored), params) in keys.iter().zip(limits) {
        let _ = outcomes.push(limiter::hit(stored.get(), params, now));
    }
    let outcomes = outcomes.as_slice();
    let admitted = outcomes.iter().all(|o| o.decision.allowed);
    let mut writes: Bounded<Option<State>, MAX_KEYS> = Bounded::new();
    let mut decisions: Bounded<Decision, MAX_KEYS> = Bounded::new();
    for (((_, stored), outcome), params) in keys.iter().zip(outcomes).zip(limits) {
        // All or nothing: a denied request leaves only reshaped (migrated) states behind, and
        // each limit reports where it stands without this request.
        let (write, decision) = if admitted {
            (outcome.write(), outcome.decision)
        } else if outcome.decision.allowed {
            let standing = Params { cost: 0, ..*params };
            let standing = limiter::hit(stored.get(), &standing, now).decision;
            (outcome.migrated, standing)
        } else {
            (outcome.migrated, outcome.decision)
        };
        let _ = writes.push(write);
        let _ = decisions.push(decision);
    }
    // Every state is checked before any is stored, so that a refusal leaves all keys as they
    // were.
    for state in writes.as_slice().iter().flatten() {
        if let Err(e) = store::check(state) {
            return Failure::from(e).reply(ctx);
        }
    }
    for ((key, stored), write) in keys.iter().zip(writes.as_slice()) {
        if let Some(state) = write {
            if let Err(e) = store::write(key, stored, *state, notify::MULTI_HIT) {
                return Failure::from(e).reply(ctx);
            }
        }
    }

    let Some((overall, deciding)) = multi::combine(decisions.as_slice()) else {
        return api::reply_error(ctx, "ERR RL.MHIT needs at least one key");
    };
    metrics::record(overall.allowed);
    if !overall.allowed {
        if let Some((key, _)) = keys.get(deciding) {
            notify::denied(ctx, key.name());
        }
    }
    let [allowed, limit, remaining, retry, reset] = super::decision_fields(&overall);
    api::reply_integers(
        ctx,
        &[allowed, limit, remaining, retry, reset, deciding as i64 + 1],
    );
}

/// Tells the server where the keys are, for cluster routing (Redis 7.0 reads a module
/// command's variable keys this way; the key specification serves ACLs and COMMAND GETKEYS).
fn declare_keys(ctx: Ctx, argv: &[RString]) {
    if let [_, numkeys, rest @ ..] = argv {
        if let Ok(count) = args::numkeys(api::bytes(*numkeys), rest.len()) {
            for pos in 2..2 + count {
                api::declare_key(ctx, pos, KEY_FLAGS);
            }
        }
    }
}

/// The limits, one per key; the keys are the first `limits.len()` of `rest`.
fn parse(numkeys: RString, rest: &[RString]) -> Result<Limits, ArgError> {
    let count = args::numkeys(api::bytes(numkeys), rest.len())?;
    let (keys, tokens) = rest.split_at(count);
    for (i, &a) in keys.iter().enumerate() {
        if keys[..i].iter().any(|&b| api::bytes(a) == api::bytes(b)) {
            return Err(ArgError::RepeatedKey);
        }
    }
    let tokens = tokens.iter().map(|&s| api::bytes(s));
    args::mhit_params(count, tokens, config::default_algorithm())
}
