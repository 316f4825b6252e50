//! `RL.HIT key limit window [COST n] [ALGO a] [BURST n]`: decide, consume when admitted,
//! answer.

use crate::api::{self, Ctx, RString};
use crate::{metrics, notify};

pub fn run(ctx: Ctx, argv: &[RString]) {
    let Some((key, params)) = super::key_and_limit(ctx, argv) else {
        return;
    };
    match super::hit_key(ctx, key, &params, notify::HIT) {
        Ok(decision) => {
            metrics::record(decision.allowed);
            api::reply_integers(ctx, &super::decision_fields(&decision));
        }
        Err(failure) => failure.reply(ctx),
    }
}
