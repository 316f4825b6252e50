//! `RL.SETSTATE key state`: the effect of a limiter command, as replicas and the AOF receive it.
//!
//! It carries the resulting state with absolute times, so replaying it reproduces the source's
//! bytes whatever the local clock says. Users never need it, and anything it accepts is a
//! state the limiter can work with: the bytes are validated before they are stored.

use redis_module::raw;

use crate::api::{self, Ctx, Key, RString};
use crate::codec;
use crate::store::{self, WrongType};

pub fn run(ctx: Ctx, argv: &[RString]) {
    let [_, key, state] = argv else {
        return api::reply_wrong_arity(ctx);
    };
    let state = match codec::decode(api::bytes(*state)) {
        Ok(state) => state,
        Err(e) => {
            return api::reply_error(
                ctx,
                &format!(
                    "ERR state is not a valid rate limiter state: {e} (RL.SETSTATE replays \
                     what RL commands write to replicas and the AOF)"
                ),
            )
        }
    };
    let key = Key::open(ctx, *key, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE);
    let stored = match store::read(&key) {
        Ok(stored) => stored,
        Err(WrongType) => return api::reply_wrong_type(ctx),
    };
    let now_ms = api::now().as_u64() / 1000;
    match store::apply(&key, &stored, state, now_ms, api::is_replayed(ctx)) {
        Ok(()) => api::reply_ok(ctx),
        Err(e) => super::Failure::from(e).reply(ctx),
    }
}
