//! `rl`: rate limiting inside Redis.
//!
//! This file is the module's registration only: the data types, the configs, the commands, the
//! INFO section. The rate limiter itself, free of Redis, is the `rl-core` crate (`core/`); the
//! module's side of the server is `redis/`; the commands are `commands/`, one file each.

mod commands;
mod redis;

use redis_module::{raw, redis_module, Context, RedisString, Status};

use crate::redis::context::Ctx;
use crate::redis::datatype::{self, RATE_LIMIT_TYPE};
use crate::redis::leases::{self, LEASES_TYPE};
use crate::redis::{api, config, metrics, notify, propagation};

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
    data_types: [RATE_LIMIT_TYPE, LEASES_TYPE],
    init: init,
}

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    let module_args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    match load(ctx.ctx, &module_args) {
        Ok(()) => Status::Ok,
        Err(e) => {
            ctx.log_warning(&format!("rl: {e}"));
            Status::Err
        }
    }
}

/// Valkey's module option for atomic slot migration (`CLUSTER MIGRATESLOTS`, Valkey 9.0+).
/// Redis numbers its own options differently, so it is only set on Valkey.
const VALKEY_OPTION_ATOMIC_SLOT_MIGRATION: u32 = 1 << 5;

fn load(raw_ctx: *mut raw::RedisModuleCtx, module_args: &[&[u8]]) -> Result<(), String> {
    api::load().map_err(|name| format!("this server lacks {name}, which the module needs"))?;
    let ctx = Ctx::of_call(raw_ctx).ok_or("no context to load in")?;
    datatype::remember();
    leases::remember();
    // Keys are signalled as modified only when a command changed them (a denied hit does not).
    // IO errors while loading are reported by returning no value, which rdb_load does.
    let mut options = raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED
        | raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS;
    let valkey = ctx.info_field(c"server", c"valkey_version").is_some();
    if valkey
        && ctx
            .module_options_all()
            .is_some_and(|all| all & VALKEY_OPTION_ATOMIC_SLOT_MIGRATION != 0)
    {
        // Valkey moves slots by sending their keys as the AOF rewrite writes them, then the
        // changes made meanwhile as they are replicated: both are what the module writes
        // anyway (RL.SETSTATE, with its key declared so the change follows its slot).
        options |= VALKEY_OPTION_ATOMIC_SLOT_MIGRATION;
    }
    ctx.set_module_options(options);
    config::load(ctx, module_args)?;
    commands::register(ctx, config::cell_compat())?;
    propagation::follow(ctx)?;
    notify::follow_restores(ctx)?;
    if !ctx.register_info(Some(metrics::info)) {
        return Err("could not register the INFO section".into());
    }
    Ok(())
}
