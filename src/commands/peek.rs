//! `RL.PEEK key limit window [COST n] [ALGO a] [BURST n]`: the answer RL.HIT would give, with
//! nothing consumed, written or propagated. Read-only, so it also runs on replicas.

use redis_module::raw;

use crate::api::{self, Ctx, Key, RString};
use crate::limiter;
use crate::store::{self, WrongType};

pub fn run(ctx: Ctx, argv: &[RString]) {
    let Some((key, params)) = super::key_and_limit(ctx, argv) else {
        return;
    };
    let key = Key::open(ctx, key, raw::REDISMODULE_READ);
    let stored = match store::read(&key) {
        Ok(stored) => stored,
        Err(WrongType) => return api::reply_wrong_type(ctx),
    };
    let outcome = limiter::hit(stored.get(), &params, api::now());
    api::reply_integers(ctx, &super::decision_fields(&outcome.decision));
}
