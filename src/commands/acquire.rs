//! `RL.ACQUIRE key limit lease [COST n] [ID id]`: takes a lease on `COST` units of a key where
//! at most `limit` units are held at once, for `lease`; answers like RL.HIT, then the lease id
//! (a nil when denied). The decision is `rl_core::leases::acquire`'s.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rl_core::leases::{self as lease_core, generated_id, id_seed, LeaseId, Leases};
use rl_core::parse;
use rl_core::Micros;

use super::declaration::{arg, option, ArgType, Command, Keys, Text, COST, READ_UPDATE};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::{config, leases, metrics, notify};

pub const COMMAND: Command = Command {
    name: c"rl.acquire",
    flags: c"write deny-oom fast",
    internal: false,
    acl_categories: "write fast",
    rate_limiting: true,
    summary: "Takes a lease on units of a concurrency limit, held until it is released or \
              expires, and answers whether it was granted, with the lease id",
    complexity: "O(N) where N is the number of leases held under the key",
    arity: -4,
    keys: Keys::First(READ_UPDATE),
    args: &[
        arg(
            "key",
            ArgType::Key,
            "the limited subject, e.g. tenant:7:jobs",
        ),
        arg(
            "limit",
            ArgType::Integer,
            "units that may be held at once (at most rl.lease-max-held)",
        ),
        arg(
            "lease",
            ArgType::String,
            "how long the lease holds unless renewed: seconds, or with a unit ms, s, m, h, d",
        ),
        COST,
        option(
            "ID",
            ArgType::String,
            Text::Fixed("the lease's id, 1 to 64 bytes (default: one the server makes)"),
        ),
    ],
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let [_, key, limit, lease, options @ ..] = args else {
        return Err(CommandError::Arity);
    };
    let options = options.iter().map(|a| a.bytes());
    let settings = config::settings();
    let (params, given) = parse::acquire_params(limit.bytes(), lease.bytes(), options, &settings)?;
    let key = Key::open(ctx, (*key).into(), Access::Write);
    let stored = leases::read(&key)?;
    let now = ctx.now();
    let id = given.unwrap_or_else(|| new_id(stored.leases(), now));
    let acquired = lease_core::acquire(stored.leases(), &params, &id, now);
    if let Some(state) = acquired.to_store {
        leases::write(&key, stored, state, notify::ACQUIRE)?;
    }
    let allowed = acquired.decision.allowed;
    if !allowed {
        notify::denied(ctx, key.name());
    }
    metrics::record(allowed);
    Ok(Reply::Acquired(acquired.decision, allowed.then_some(id)))
}

/// The seed of the ids this process makes, drawn at its first RL.ACQUIRE without ID.
static SEED: OnceLock<u64> = OnceLock::new();
/// How many ids this process made.
static MADE: AtomicU64 = AtomicU64::new(0);

/// An id for a lease whose client gave none, that the key does not hold.
fn new_id(held: Option<&Leases>, now: Micros) -> LeaseId {
    let seed = *SEED.get_or_init(|| {
        // RandomState's keys come from the OS's randomness.
        let random = RandomState::new().hash_one(now.as_micros());
        id_seed(now.as_micros(), u64::from(std::process::id()), random)
    });
    loop {
        let id = generated_id(seed, MADE.fetch_add(1, Ordering::Relaxed));
        if held.and_then(|l| l.find(id.as_bytes())).is_none() {
            return id;
        }
    }
}
