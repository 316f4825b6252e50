//! `RL.PEEK key limit window [COST n] [ALGO a] [BURST n]`: the answer RL.HIT would give, with
//! nothing consumed, written or propagated. Read-only, so it also runs on replicas.

use redis_module::raw;

use crate::api::{self, Ctx, Key, RString};
use crate::store::{self, WrongType};
use crate::{args, config, limiter};

pub fn run(ctx: Ctx, argv: &[RString]) {
    let [_, key, limit, window, options @ ..] = argv else {
        return api::reply_wrong_arity(ctx);
    };
    let options = options.iter().map(|&s| api::bytes(s));
    let limit = api::bytes(*limit);
    let params = match args::hit_params(
        limit,
        api::bytes(*window),
        options,
        config::default_algorithm(),
    ) {
        Ok(params) => params,
        Err(e) => return api::reply_error(ctx, &e.message()),
    };
    let key = Key::open(ctx, *key, raw::REDISMODULE_READ);
    let stored = match store::read(&key) {
        Ok(stored) => stored,
        Err(WrongType) => return api::reply_wrong_type(ctx),
    };
    let outcome = limiter::hit(stored.get(), &params, api::now());
    api::reply_integers(ctx, &super::decision_fields(&outcome.decision));
}
