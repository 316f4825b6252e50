//! `RL.HIT key limit window [COST n] [ALGO a] [BURST n]`: decide, consume when admitted,
//! answer.

use crate::api::{self, Ctx, RString};
use crate::store::WrongType;
use crate::{args, config, metrics};

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
    match super::hit_key(ctx, *key, &params) {
        Ok(decision) => {
            metrics::record(decision.allowed);
            api::reply_integers(ctx, &super::decision_fields(&decision));
        }
        Err(WrongType) => api::reply_wrong_type(ctx),
    }
}
