//! Concurrency leases: how many units are held at once, not how many per window.
//!
//! A lease is `units` of a key's `limit` held by an id until an instant. ACQUIRE admits a
//! request when the units held by unexpired leases, plus its cost, fit in the limit; RELEASE
//! frees a lease at once; RENEW moves its expiry to `lease` from now. A lease that is not
//! renewed expires by itself, so a crashed holder never keeps capacity for ever, and a key
//! whose last lease expired holds nothing (the module gives the key that expiry).
//!
//! A lease holds from the instant it was acquired (or renewed) until its expiry, exclusive: at
//! its expiry instant its units are free again.
//!
//! Like every state of the module, `Leases` is dated: `as_of` is the instant of the decision
//! that wrote it. A state read at an earlier instant than its own (the clock stepped back, or
//! it was written on a host whose clock is ahead) is read as it stood at `as_of`, moved to
//! now: every expiry shifts back with it, so a clock stepped back neither frees nor extends
//! capacity. Leases that expired are dropped whenever a state is written.
//!
//! `Leases::validate` is the one definition of a leases state the module may hold: the byte
//! decoder (`codec`) refuses anything else, and the module checks every state before writing
//! it.

pub mod codec;
mod id;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use crate::{Decision, Micros, Retry, MAX_INSTANT, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW};

pub use id::{generated_id, id_seed, LeaseId, MAX_ID_LEN};

/// The most leases a key may ever hold, and the upper bound of `rl.lease-max-held`: the
/// limit of an ACQUIRE is at most this (each lease holds at least one unit).
pub const MAX_HELD: u64 = 1_000_000;
/// The default of `rl.lease-max-held`.
pub const DEFAULT_MAX_HELD: u64 = 10_000;

/// What an ACQUIRE asks for, validated once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseParams {
    /// Units that may be held at once: 1..=MAX_HELD.
    limit: u64,
    /// How long the lease holds: MIN_WINDOW..=MAX_WINDOW.
    lease: Micros,
    /// Units the lease holds: 1..=MAX_LIMIT. More than the limit is never admitted.
    cost: u64,
}

/// Why lease parameters were refused: the one at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseParamError {
    Limit,
    Lease,
    Cost,
}

impl LeaseParams {
    pub fn new(limit: u64, lease: Micros, cost: u64) -> Result<LeaseParams, LeaseParamError> {
        if !(1..=MAX_HELD).contains(&limit) {
            return Err(LeaseParamError::Limit);
        }
        if !is_lease_duration(lease) {
            return Err(LeaseParamError::Lease);
        }
        if !(1..=MAX_LIMIT).contains(&cost) {
            return Err(LeaseParamError::Cost);
        }
        Ok(LeaseParams { limit, lease, cost })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn lease(&self) -> Micros {
        self.lease
    }

    pub fn cost(&self) -> u64 {
        self.cost
    }
}

/// A lease lasts from 1 ms to 36500 days, like a window.
pub fn is_lease_duration(lease: Micros) -> bool {
    (MIN_WINDOW..=MAX_WINDOW).contains(&lease)
}

/// One lease, as `Leases::iter` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease<'a> {
    pub id: &'a [u8],
    /// The instant its units are free again.
    pub expires_at: Micros,
    pub units: u64,
}

/// Where a lease's id lies in `Leases::ids`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    expires_at: Micros,
    units: u64,
    start: u32,
    len: u32,
}

/// The leases held under one key. The ids of all leases are kept end to end in one buffer, in
/// the leases' order, so that a state is two allocations whatever it holds; a state is always
/// built lease by lease with `push`, which keeps that layout canonical.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leases {
    /// The limit of the ACQUIRE that last admitted a lease: the units held never exceed it.
    limit: u64,
    /// The instant of the decision that wrote the state.
    as_of: Micros,
    entries: Vec<Entry>,
    ids: Vec<u8>,
}

/// What makes a leases state invalid: the field at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    Limit,
    AsOf,
    Count,
    Id,
    RepeatedId,
    Units,
    Expiry,
    Held,
    Empty,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invalid::Limit => "its limit is outside 1 to 1000000",
            Invalid::AsOf => "its instant is later than the year 4253",
            Invalid::Count => "it holds more than 1000000 leases",
            Invalid::Id => "a lease id is not 1 to 64 bytes long",
            Invalid::RepeatedId => "two leases have the same id",
            Invalid::Units => "a lease holds no units",
            Invalid::Expiry => {
                "a lease does not expire after the state's instant, or lasts longer than 36500d"
            }
            Invalid::Held => "its leases hold more units than its limit",
            Invalid::Empty => "it holds no lease (such a key is deleted, not stored)",
        })
    }
}

impl Leases {
    /// No leases yet, under `limit`, dated `as_of`.
    pub fn new(limit: u64, as_of: Micros) -> Leases {
        Leases::with_capacity(limit, as_of, 0, 0)
    }

    /// No leases yet, with room for `leases` of `id_bytes` in all, so that a state built
    /// lease by lease takes no more memory than it needs.
    fn with_capacity(limit: u64, as_of: Micros, leases: usize, id_bytes: usize) -> Leases {
        Leases {
            limit,
            as_of,
            entries: Vec::with_capacity(leases),
            ids: Vec::with_capacity(id_bytes),
        }
    }

    /// Appends a lease. Refuses an id outside 1..=MAX_ID_LEN bytes and a lease beyond
    /// MAX_HELD (the rest of the rule is `validate`'s).
    pub fn push(&mut self, id: &[u8], expires_at: Micros, units: u64) -> Result<(), Invalid> {
        if !(1..=MAX_ID_LEN).contains(&id.len()) {
            return Err(Invalid::Id);
        }
        if self.entries.len() as u64 >= MAX_HELD {
            return Err(Invalid::Count);
        }
        // At most MAX_HELD ids of at most MAX_ID_LEN bytes: far below 2^32.
        let start = u32::try_from(self.ids.len()).map_err(|_| Invalid::Count)?;
        self.ids.extend_from_slice(id);
        self.entries.push(Entry {
            expires_at,
            units,
            start,
            len: id.len() as u32,
        });
        Ok(())
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn as_of(&self) -> Micros {
        self.as_of
    }

    /// How many leases the state holds (expired ones included, until the next write).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Lease<'_>> + '_ {
        self.entries.iter().map(|e| Lease {
            id: self
                .ids
                .get(e.start as usize..(e.start + e.len) as usize)
                .unwrap_or_default(),
            expires_at: e.expires_at,
            units: e.units,
        })
    }

    /// The lease held by `id`, expired or not.
    pub fn find(&self, id: &[u8]) -> Option<Lease<'_>> {
        self.iter().find(|l| l.id == id)
    }

    /// Units held by the leases of the state, expired or not.
    pub fn held(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |sum, e| sum.saturating_add(e.units))
    }

    /// When the last lease expires: from then on the state holds nothing and the key may
    /// expire. `None` for a state without leases.
    pub fn expires_at(&self) -> Option<Micros> {
        self.entries.iter().map(|e| e.expires_at).max()
    }

    /// Bytes the state occupies besides its own struct.
    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.ids.capacity()
    }

    /// Checks everything the decisions and the byte form rely on, whatever the clock: a valid
    /// state stays valid, and loadable, forever.
    pub fn validate(&self) -> Result<(), Invalid> {
        let check = |ok: bool, why: Invalid| if ok { Ok(()) } else { Err(why) };
        check((1..=MAX_HELD).contains(&self.limit), Invalid::Limit)?;
        check(self.as_of <= MAX_INSTANT, Invalid::AsOf)?;
        check(self.entries.len() as u64 <= MAX_HELD, Invalid::Count)?;
        check(!self.entries.is_empty(), Invalid::Empty)?;
        let mut seen = HashSet::with_capacity(self.entries.len());
        let mut held: u128 = 0;
        for lease in self.iter() {
            check((1..=MAX_ID_LEN).contains(&lease.id.len()), Invalid::Id)?;
            check(lease.units >= 1, Invalid::Units)?;
            check(
                lease.expires_at > self.as_of && lease.expires_at - self.as_of <= MAX_WINDOW,
                Invalid::Expiry,
            )?;
            check(seen.insert(lease.id), Invalid::RepeatedId)?;
            held += u128::from(lease.units);
        }
        check(held <= u128::from(self.limit), Invalid::Held)
    }

    /// The state as seen at `now` and dated `now`, and whether it had to be moved back to get
    /// there. A `now` before `as_of` finds the leases as they stood at `as_of`, every expiry
    /// moved back by the step; otherwise the leases expired by `now` are dropped.
    pub fn at(&self, now: Micros) -> (Leases, bool) {
        let moved = now < self.as_of;
        let step = self.as_of - now;
        let mut seen = Leases::with_capacity(self.limit, now, self.len(), self.ids.len());
        for lease in self.iter() {
            let expires_at = lease.expires_at - step;
            if expires_at > now {
                seen.push_valid(lease.id, expires_at, lease.units);
            }
        }
        (seen, moved)
    }

    /// `push` for a lease taken from a valid state: its id is valid and the leases it is
    /// copied with were at most MAX_HELD, so it cannot be refused.
    fn push_valid(&mut self, id: &[u8], expires_at: Micros, units: u64) {
        let pushed = self.push(id, expires_at, units);
        debug_assert!(
            pushed.is_ok(),
            "a lease of a valid state was refused: {pushed:?}"
        );
    }

    /// The same leases dated `now` under `limit`, the lease of `id` set to `replaced` (its
    /// expiry and units; added when `id` holds none) or dropped (`None`). For a state seen at
    /// `now`, whose leases all run past it.
    fn rebuilt(
        &self,
        limit: u64,
        now: Micros,
        id: &[u8],
        replaced: Option<(Micros, u64)>,
    ) -> Leases {
        let (leases, id_bytes) = (self.len() + 1, self.ids.len() + id.len());
        let mut next = Leases::with_capacity(limit, now, leases, id_bytes);
        let mut placed = false;
        for lease in self.iter() {
            if lease.id != id {
                next.push_valid(lease.id, lease.expires_at, lease.units);
            } else if let Some((expires_at, units)) = replaced {
                next.push_valid(id, expires_at, units);
                placed = true;
            }
        }
        if let (false, Some((expires_at, units))) = (placed, replaced) {
            next.push_valid(id, expires_at, units);
        }
        next
    }
}

/// What a RELEASE or a RENEW did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Whether the lease was held (and so released or renewed).
    pub held: bool,
    /// The state to store; `None` when nothing changes. A state without leases deletes the key.
    pub to_store: Option<Leases>,
}

/// The answer to an ACQUIRE, and the state it leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquired {
    /// capacity = the limit, remaining = the units free after this request, retry_after =
    /// when enough leases expire for it to fit (`Never` when its cost exceeds the limit),
    /// reset_after = when the last lease expires.
    pub decision: Decision,
    /// The state to store; `None` when nothing changes (a denied request, unless the state had
    /// to be moved back to a clock behind it: then the moved state is stored, so that the
    /// wait answered holds on the clock as it is).
    pub to_store: Option<Leases>,
}

/// The key's leases seen at `now` (`now` clamped as every decision clamps it), and whether
/// they had to be moved back to it. A state that needs neither moving nor dropping a lease is
/// read where it is.
fn seen(state: Option<&Leases>, limit: u64, now: Micros) -> (Cow<'_, Leases>, bool) {
    match state {
        Some(state) if state.as_of <= now && state.entries.iter().all(|e| e.expires_at > now) => {
            (Cow::Borrowed(state), false)
        }
        Some(state) => {
            let (seen, moved) = state.at(now);
            (Cow::Owned(seen), moved)
        }
        None => (Cow::Owned(Leases::new(limit, now)), false),
    }
}

/// Decides an ACQUIRE of `params` by `id` against the key's leases (`None`: no key).
///
/// An `id` that already holds a lease under the key is the same holder asking again (a retry
/// whose answer was lost, or a holder changing its cost): its lease is replaced by the new
/// one, judged as if the old one were released first, and left as it was when denied.
pub fn acquire(
    state: Option<&Leases>,
    params: &LeaseParams,
    id: &LeaseId,
    now: Micros,
) -> Acquired {
    let now = now.min(MAX_INSTANT);
    let id = id.as_bytes();
    let (basis, moved) = seen(state, params.limit, now);
    let others = basis
        .iter()
        .filter(|l| l.id != id)
        .fold(0u64, |sum, l| sum.saturating_add(l.units));
    let room = params.limit.checked_sub(params.cost);
    let allowed = room.is_some_and(|room| others <= room);
    if allowed {
        let expires_at = now + params.lease;
        let next = basis.rebuilt(params.limit, now, id, Some((expires_at, params.cost)));
        let decision = Decision {
            allowed: true,
            capacity: params.limit,
            remaining: params.limit - others - params.cost,
            retry_after: Retry::Now,
            reset_after: next.expires_at().map_or(Micros::ZERO, |at| at - now),
        };
        return Acquired {
            decision,
            to_store: Some(next),
        };
    }
    let retry_after = match room {
        None => Retry::Never,
        Some(room) => Retry::After(fits_at(&basis, id, room) - now),
    };
    let decision = Decision {
        allowed: false,
        capacity: params.limit,
        remaining: params.limit.saturating_sub(basis.held()),
        retry_after,
        reset_after: basis.expires_at().map_or(Micros::ZERO, |at| at - now),
    };
    Acquired {
        decision,
        to_store: moved.then(|| basis.into_owned()),
    }
}

/// The earliest instant at which the leases other than `id`'s hold at most `room` units, if
/// nothing else happens meanwhile: the expiry that frees the last unit in the way.
fn fits_at(leases: &Leases, id: &[u8], room: u64) -> Micros {
    let mut expiring: Vec<(Micros, u64)> = leases
        .iter()
        .filter(|l| l.id != id)
        .map(|l| (l.expires_at, l.units))
        .collect();
    expiring.sort_unstable();
    let mut held = expiring
        .iter()
        .fold(0u64, |sum, (_, units)| sum.saturating_add(*units));
    for (expires_at, units) in expiring {
        if held <= room {
            break;
        }
        held = held.saturating_sub(units);
        if held <= room {
            return expires_at;
        }
    }
    leases.as_of
}

/// RELEASE of `id`: frees its lease at once. Not held (expired, or never acquired): nothing
/// changes.
pub fn release(state: Option<&Leases>, id: &[u8], now: Micros) -> Change {
    let now = now.min(MAX_INSTANT);
    let (basis, _) = seen(state, 1, now);
    if basis.find(id).is_none() {
        return Change {
            held: false,
            to_store: None,
        };
    }
    Change {
        held: true,
        to_store: Some(basis.rebuilt(basis.limit, now, id, None)),
    }
}

/// RENEW of `id`: its lease now expires `lease` from now (which may also shorten it). Not held
/// (expired, or never acquired): nothing changes. `lease` is taken within 1 ms to 36500 days.
pub fn renew(state: Option<&Leases>, id: &[u8], lease: Micros, now: Micros) -> Change {
    let now = now.min(MAX_INSTANT);
    let (basis, _) = seen(state, 1, now);
    let Some(held) = basis.find(id) else {
        return Change {
            held: false,
            to_store: None,
        };
    };
    let expires_at = now + lease.clamp(MIN_WINDOW, MAX_WINDOW);
    Change {
        held: true,
        to_store: Some(basis.rebuilt(basis.limit, now, id, Some((expires_at, held.units)))),
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod strategies;

#[cfg(test)]
mod tests;
