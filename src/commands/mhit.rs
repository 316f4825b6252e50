//! `RL.MHIT numkeys key [key ...] LIMIT limit window [ALGO a] [BURST n] [LIMIT ...] [COST n]`:
//! one request checked against several limits, all or nothing. The i-th LIMIT clause applies
//! to the i-th key. If every limit admits the request, every one consumes it; if any denies,
//! none does.
//!
//! Reply: the five fields of RL.HIT for the whole request (see `limiter::multi::combine`),
//! then the 1-based position of the key whose limit decided it.

use redis_module::raw;

use crate::api::{self, Ctx, Key, RString};
use crate::args::{self, ArgError};
use crate::limiter::{self, multi, Params};
use crate::store::{self, Stored, WrongType};
use crate::{config, metrics};

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
    let mut keys: Vec<(Key, Stored)> = Vec::with_capacity(limits.len());
    for &name in &rest[..limits.len()] {
        let key = Key::open(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE);
        match store::read(&key) {
            Ok(stored) => keys.push((key, stored)),
            Err(WrongType) => return api::reply_wrong_type(ctx),
        }
    }

    let now = api::now();
    let outcomes: Vec<limiter::Outcome> = keys
        .iter()
        .zip(&limits)
        .map(|((_, stored), params)| limiter::hit(stored.get(), params, now))
        .collect();
    let admitted = outcomes.iter().all(|o| o.decision.allowed);
    let mut decisions = Vec::with_capacity(outcomes.len());
    for (((key, stored), outcome), params) in keys.into_iter().zip(&outcomes).zip(&limits) {
        // All or nothing: a denied request leaves only reshaped (migrated) states behind, and
        // each limit reports where it stands without this request.
        let (write, decision) = if admitted {
            (outcome.write(), outcome.decision)
        } else if outcome.decision.allowed {
            let standing = Params { cost: 0, ..*params };
            (
                outcome.migrated,
                limiter::hit(stored.get(), &standing, now).decision,
            )
        } else {
            (outcome.migrated, outcome.decision)
        };
        if let Some(state) = write {
            store::write(&key, stored, state);
        }
        decisions.push(decision);
    }

    let Some((overall, deciding)) = multi::combine(&decisions) else {
        return api::reply_error(ctx, "ERR RL.MHIT needs at least one key");
    };
    metrics::record(overall.allowed);
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
fn parse(numkeys: RString, rest: &[RString]) -> Result<Vec<Params>, ArgError> {
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
