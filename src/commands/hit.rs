//! `RL.HIT key limit window [COST n]`: decide, consume when admitted, answer.

use redis_module::raw;

use crate::api::{self, Ctx, Key, RString};
use crate::store::{self, WrongType};
use crate::{args, limiter, metrics};

pub fn run(ctx: Ctx, argv: &[RString]) {
    let [_, key, limit, window, options @ ..] = argv else {
        return api::reply_wrong_arity(ctx);
    };
    let options = options.iter().map(|&s| api::bytes(s));
    let params = match args::hit_params(api::bytes(*limit), api::bytes(*window), options) {
        Ok(params) => params,
        Err(e) => return api::reply_error(ctx, &e.message()),
    };
    let key = Key::open(ctx, *key, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE);
    let stored = match store::read(&key) {
        Ok(stored) => stored,
        Err(WrongType) => return api::reply_wrong_type(ctx),
    };
    let outcome = limiter::hit(stored.get(), &params, api::now());
    if let Some(state) = outcome.write {
        store::write(&key, stored, state);
    }
    metrics::record(&outcome.decision);
    api::reply_integers(ctx, &super::decision_fields(&outcome.decision));
}
