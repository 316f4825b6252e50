//! `rl`: rate limiting inside Redis.
//!
//! This file is the module's registration only: the data type, the commands, the INFO
//! section. The mathematics lives in `limiter`, argument parsing in `args`, the data type in
//! `store` and `codec`, the commands in `commands`.

mod api;
mod args;
mod bounded;
mod codec;
mod commands;
mod config;
mod limiter;
mod metrics;
mod notify;
mod packed;
mod propagation;
mod store;

use redis_module::{raw, redis_module, Context, RedisString, Status};

use store::RATE_LIMIT_TYPE;

// Inside redis-server every allocation goes through the server's allocator, so that
// INFO memory and MEMORY USAGE count it. Unit tests run without a server.
#[cfg(not(test))]
type Allocator = redis_module::alloc::RedisAlloc;
#[cfg(not(test))]
const ALLOCATOR: Allocator = redis_module::alloc::RedisAlloc;
#[cfg(test)]
type Allocator = std::alloc::System;
#[cfg(test)]
const ALLOCATOR: Allocator = std::alloc::System;

redis_module! {
    name: "rl",
    version: 100,
    allocator: (Allocator, ALLOCATOR),
    data_types: [RATE_LIMIT_TYPE],
    init: init,
}

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    if let Some(name) = api::missing_required() {
        ctx.log_warning(&format!(
            "rl: this server lacks {name}, which the module needs"
        ));
        return Status::Err;
    }
    store::remember_type();
    // Keys are signalled as modified only when a command changed them (a denied hit does not).
    // IO errors while loading are reported by returning no value, which rdb_load does.
    let mut options = raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED
        | raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS;
    if api::has_atomic_slot_migration(ctx.ctx) {
        // Valkey moves slots by sending their keys as the AOF rewrite writes them, then the
        // changes made meanwhile as they are replicated: both are what the module writes
        // anyway (RL.SETSTATE, with its key declared so the change follows its slot).
        options |= api::VALKEY_OPTION_ATOMIC_SLOT_MIGRATION;
    }
    api::call!(RedisModule_SetModuleOptions(ctx.ctx, options as i32) else ());
    let module_args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    if let Err(e) = config::load(ctx.ctx, &module_args) {
        ctx.log_warning(&format!("rl: {e}"));
        return Status::Err;
    }
    if let Err(e) = commands::register(ctx.ctx, config::cell_compat()) {
        ctx.log_warning(&format!("rl: {e}"));
        return Status::Err;
    }
    if let Err(e) = propagation::follow(ctx.ctx) {
        ctx.log_warning(&format!("rl: {e}"));
        return Status::Err;
    }
    if let Err(e) = notify::follow_restores(ctx.ctx) {
        ctx.log_warning(&format!("rl: {e}"));
        return Status::Err;
    }
    api::call!(RedisModule_RegisterInfoFunc(ctx.ctx, Some(metrics::info)) else 0);
    Status::Ok
}
