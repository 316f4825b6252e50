//! Leases against a brute-force model, with a simulated clock that steps back and forward.
//!
//! The model keeps the leases as a plain list with absolute expiries and recomputes everything
//! from it at each call: the units held are summed, and the wait of a denied request is found
//! by trying every instant at which a lease expires.

use proptest::prelude::*;

use super::strategies::{lease_id, valid_leases};
use super::*;

const HOUR: u64 = 3_600_000_000;
const T0: Micros = Micros::from_micros(1_800_000_000_000_000);

fn ms(n: u64) -> Micros {
    Micros::from_millis(n)
}

fn id(text: &[u8]) -> LeaseId {
    LeaseId::new(text).expect("a valid id")
}

fn params(limit: u64, lease_ms: u64, cost: u64) -> LeaseParams {
    LeaseParams::new(limit, ms(lease_ms), cost).expect("valid parameters")
}

/// A key as the server keeps it: the leases, and the key's expiry in whole milliseconds (a key
/// is gone once now_ms > expire_ms, as in Redis).
#[derive(Clone, Debug, Default)]
struct SimKey {
    state: Option<Leases>,
    expire_ms: u64,
}

impl SimKey {
    fn live(&self, now: Micros) -> Option<&Leases> {
        self.state
            .as_ref()
            .filter(|_| now.as_micros() / 1000 <= self.expire_ms)
    }

    fn store(&mut self, to_store: Option<Leases>) {
        let Some(state) = to_store else { return };
        match state.expires_at() {
            Some(at) => {
                assert_eq!(state.validate(), Ok(()), "{state:?}");
                assert_eq!(codec::decode(&codec::encode(&state)), Ok(state.clone()));
                self.expire_ms = at.ceil_millis();
                self.state = Some(state);
            }
            None => self.state = None,
        }
    }

    fn acquire(&mut self, p: &LeaseParams, lease_id: &LeaseId, now: Micros) -> Decision {
        let out = acquire(self.live(now), p, lease_id, now);
        self.store(out.to_store);
        out.decision
    }

    fn release(&mut self, lease_id: &[u8], now: Micros) -> bool {
        let out = release(self.live(now), lease_id, now);
        self.store(out.to_store);
        out.held
    }

    fn renew(&mut self, lease_id: &[u8], lease: Micros, now: Micros) -> bool {
        let out = renew(self.live(now), lease_id, lease, now);
        self.store(out.to_store);
        out.held
    }

    /// Units held at `now` by what the key stores.
    fn held(&self, now: Micros) -> u64 {
        self.live(now)
            .map_or(0, |s| s.at(now).0.iter().map(|l| l.units).sum())
    }
}

#[test]
fn up_to_the_limit_then_a_wait_until_the_first_lease_expires() {
    let mut key = SimKey::default();
    let p = params(3, 10_000, 1);
    for (i, name) in [b"a", b"b", b"c"].iter().enumerate() {
        let d = key.acquire(&p, &id(*name), T0 + ms(1_000 * i as u64));
        assert!(d.allowed);
        assert_eq!(d.capacity, 3);
        assert_eq!(d.remaining, 2 - i as u64);
        assert_eq!(d.reset_after, ms(10_000));
    }
    let now = T0 + ms(2_000);
    let d = key.acquire(&p, &id(b"d"), now);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    assert_eq!(d.retry_after, Retry::After(ms(8_000)));
    assert_eq!(d.reset_after, ms(10_000));
    // A cost of 2 waits for two leases to expire; a cost above the limit never fits.
    let d = key.acquire(&params(3, 10_000, 2), &id(b"d"), now);
    assert_eq!(d.retry_after, Retry::After(ms(9_000)));
    let d = key.acquire(&params(3, 10_000, 4), &id(b"d"), now);
    assert_eq!(d.retry_after, Retry::Never);
    // Exactly when the first lease expires, one unit is free.
    let retry = T0 + ms(10_000);
    assert!(
        !key.clone()
            .acquire(&p, &id(b"d"), retry - Micros::from_micros(1))
            .allowed
    );
    let d = key.acquire(&p, &id(b"d"), retry);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
}

#[test]
fn release_frees_at_once_and_twice_is_harmless() {
    let mut key = SimKey::default();
    let p = params(1, 60_000, 1);
    assert!(key.acquire(&p, &id(b"job"), T0).allowed);
    assert!(!key.acquire(&p, &id(b"other"), T0).allowed);
    assert!(key.release(b"job", T0));
    assert!(
        key.state.is_none(),
        "the last lease released deletes the key"
    );
    assert!(!key.release(b"job", T0));
    assert!(!key.release(b"never", T0));
    assert!(key.acquire(&p, &id(b"other"), T0).allowed);
}

#[test]
fn renew_extends_a_held_lease_only() {
    let mut key = SimKey::default();
    let p = params(1, 5_000, 1);
    assert!(key.acquire(&p, &id(b"job"), T0).allowed);
    assert!(key.renew(b"job", ms(5_000), T0 + ms(4_000)));
    assert_eq!(
        key.state.as_ref().unwrap().expires_at(),
        Some(T0 + ms(9_000))
    );
    assert!(!key.acquire(&p, &id(b"x"), T0 + ms(8_999)).allowed);
    assert!(!key.renew(b"x", ms(5_000), T0 + ms(8_999)));
    // Expired: too late to renew.
    assert!(!key.renew(b"job", ms(5_000), T0 + ms(9_000)));
    assert!(key.acquire(&p, &id(b"x"), T0 + ms(9_000)).allowed);
}

#[test]
fn acquiring_a_held_id_again_replaces_its_lease() {
    let mut key = SimKey::default();
    let p = params(3, 10_000, 1);
    assert!(key.acquire(&p, &id(b"job"), T0).allowed);
    // A retry: the same lease, extended, not a second one.
    let d = key.acquire(&p, &id(b"job"), T0 + ms(1_000));
    assert!(d.allowed);
    assert_eq!(d.remaining, 2);
    assert_eq!(d.reset_after, ms(10_000));
    assert_eq!(key.state.as_ref().unwrap().len(), 1);
    // A larger cost is judged without the old lease, which stays as it was when denied.
    assert!(key.acquire(&p, &id(b"other"), T0 + ms(1_000)).allowed);
    let d = key.acquire(&params(3, 10_000, 3), &id(b"job"), T0 + ms(2_000));
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Retry::After(ms(9_000)));
    assert_eq!(key.state.as_ref().unwrap().find(b"job").unwrap().units, 1);
    let d = key.acquire(&params(3, 10_000, 2), &id(b"job"), T0 + ms(2_000));
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
}

#[test]
fn a_step_back_neither_frees_nor_extends() {
    let mut key = SimKey::default();
    let p = params(2, 10_000, 1);
    assert!(key.acquire(&p, &id(b"a"), T0).allowed);
    assert!(key.acquire(&p, &id(b"b"), T0 + ms(4_000)).allowed);
    // An hour earlier, both leases are still held, with the time they had left.
    let back = T0 + ms(4_000) - Micros::from_micros(HOUR);
    let d = key.acquire(&p, &id(b"c"), back);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Retry::After(ms(6_000)));
    assert_eq!(d.reset_after, ms(10_000));
    // The moved state was stored, so the wait holds on this clock.
    assert_eq!(key.expire_ms, (back + ms(10_000)).ceil_millis());
    assert!(
        !key.clone()
            .acquire(&p, &id(b"c"), back + ms(6_000) - Micros::from_micros(1))
            .allowed
    );
    assert!(key.acquire(&p, &id(b"c"), back + ms(6_000)).allowed);
}

#[test]
fn a_lowered_limit_waits_until_enough_expire() {
    let mut key = SimKey::default();
    for (i, name) in [b"a", b"b", b"c", b"d"].iter().enumerate() {
        assert!(
            key.acquire(&params(4, 10_000, 1), &id(*name), T0 + ms(i as u64))
                .allowed
        );
    }
    let d = key.acquire(&params(2, 10_000, 1), &id(b"e"), T0 + ms(10));
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    // Three of the four must go.
    assert_eq!(d.retry_after, Retry::After(ms(10_002 - 10)));
}

// ---- The model ----------------------------------------------------------------------------

/// The leases of a key as a plain list, with the key's own date and expiry.
#[derive(Clone, Debug, Default)]
struct Model {
    as_of: u64,
    limit: u64,
    /// (id, expires_at µs, units)
    leases: Vec<(Vec<u8>, u64, u64)>,
    expire_ms: Option<u64>,
}

impl Model {
    /// The leases held at `now` (moved back by the step when `now` is before the state's
    /// date), and whether they were moved.
    fn view(&self, now: u64) -> (Vec<(Vec<u8>, u64, u64)>, bool) {
        match self.expire_ms {
            Some(at) if now / 1000 <= at => {}
            _ => return (vec![], false),
        }
        if now < self.as_of {
            let step = self.as_of - now;
            let moved = self
                .leases
                .iter()
                .map(|(i, e, u)| (i.clone(), e - step, *u))
                .collect();
            return (moved, true);
        }
        let live = self
            .leases
            .iter()
            .filter(|(_, e, _)| *e > now)
            .cloned()
            .collect();
        (live, false)
    }

    fn set(&mut self, leases: Vec<(Vec<u8>, u64, u64)>, limit: u64, now: u64) {
        self.expire_ms = leases.iter().map(|l| l.1.div_ceil(1000)).max();
        self.leases = leases;
        self.limit = limit;
        self.as_of = now;
    }

    fn acquire(
        &mut self,
        limit: u64,
        lease: u64,
        cost: u64,
        lease_id: &[u8],
        now: u64,
    ) -> Decision {
        let (view, moved) = self.view(now);
        let held: u64 = view.iter().map(|l| l.2).sum();
        let others: Vec<(u64, u64)> = view
            .iter()
            .filter(|l| l.0 != lease_id)
            .map(|l| (l.1, l.2))
            .collect();
        let others_held: u64 = others.iter().map(|l| l.1).sum();
        let last = |leases: &[(Vec<u8>, u64, u64)]| leases.iter().map(|l| l.1).max();
        if cost <= limit && others_held + cost <= limit {
            let mut next = view.clone();
            match next.iter_mut().find(|l| l.0 == lease_id) {
                Some(l) => *l = (lease_id.to_vec(), now + lease, cost),
                None => next.push((lease_id.to_vec(), now + lease, cost)),
            }
            let reset = last(&next).unwrap() - now;
            self.set(next, limit, now);
            return Decision {
                allowed: true,
                capacity: limit,
                remaining: limit - others_held - cost,
                retry_after: Retry::Now,
                reset_after: Micros::from_micros(reset),
            };
        }
        let retry_after = if cost > limit {
            Retry::Never
        } else {
            // Every instant at which a lease expires, tried in turn.
            let fits = |t: u64| {
                others.iter().filter(|l| l.0 > t).map(|l| l.1).sum::<u64>() + cost <= limit
            };
            let at = others
                .iter()
                .map(|l| l.0)
                .filter(|t| fits(*t))
                .min()
                .unwrap();
            Retry::After(Micros::from_micros(at - now))
        };
        let reset = last(&view).map_or(0, |at| at - now);
        if moved {
            let limit = self.limit;
            self.set(view, limit, now);
        }
        Decision {
            allowed: false,
            capacity: limit,
            remaining: limit.saturating_sub(held),
            retry_after,
            reset_after: Micros::from_micros(reset),
        }
    }

    fn release(&mut self, lease_id: &[u8], now: u64) -> bool {
        let (mut view, _) = self.view(now);
        let before = view.len();
        view.retain(|l| l.0 != lease_id);
        if view.len() == before {
            return false;
        }
        let limit = self.limit;
        self.set(view, limit, now);
        true
    }

    fn renew(&mut self, lease_id: &[u8], lease: u64, now: u64) -> bool {
        let (mut view, _) = self.view(now);
        let Some(held) = view.iter_mut().find(|l| l.0 == lease_id) else {
            return false;
        };
        held.1 = now + lease;
        let limit = self.limit;
        self.set(view, limit, now);
        true
    }

    fn sorted(leases: &[(Vec<u8>, u64, u64)]) -> Vec<(Vec<u8>, u64, u64)> {
        let mut sorted = leases.to_vec();
        sorted.sort();
        sorted
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// `id: None` asks for a server-made id.
    Acquire {
        id: Option<Vec<u8>>,
        cost: u64,
        lease_ms: u64,
    },
    Release {
        id: Vec<u8>,
    },
    Renew {
        id: Vec<u8>,
        lease_ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let lease_ms = prop_oneof![1u64..=20, 1u64..=5_000, Just(60_000)];
    prop_oneof![
        5 => (proptest::option::weighted(0.8, lease_id()), prop_oneof![4 => Just(1u64), 1 => 1u64..=4], lease_ms.clone())
            .prop_map(|(id, cost, lease_ms)| Op::Acquire { id, cost, lease_ms }),
        2 => lease_id().prop_map(|id| Op::Release { id }),
        2 => (lease_id(), lease_ms).prop_map(|(id, lease_ms)| Op::Renew { id, lease_ms }),
    ]
}

/// A step of the clock: mostly forward a little, sometimes back or forward a lot.
fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..2_000_000,
        1 => 0i64..3,
        1 => -(HOUR as i64)..0,
        1 => -3_000_000i64..0,
        1 => 0..HOUR as i64,
    ]
}

/// Runs `ops` through a key and the model side by side, checking every promise on the way.
fn run_trace(limits: &[u64], calls: &[(i64, usize, Op)], start: u64) -> Result<(), TestCaseError> {
    let mut key = SimKey::default();
    let mut model = Model::default();
    let mut now = start;
    let mut made = 0u64;
    for (step, limit_at, op) in calls {
        now = now
            .saturating_add_signed(*step)
            .min(MAX_INSTANT.as_micros());
        let at = Micros::from_micros(now);
        let limit = limits[limit_at % limits.len()];
        match op {
            Op::Acquire {
                id: given,
                cost,
                lease_ms,
            } => {
                let lease_id = match given {
                    Some(given) => id(given),
                    None => loop {
                        // As the module does: a server-made id the key does not hold.
                        made += 1;
                        let candidate = generated_id(7, made);
                        let held = key.live(at).and_then(|s| s.find(candidate.as_bytes()));
                        if held.is_none() {
                            break candidate;
                        }
                    },
                };
                let p = params(limit, *lease_ms, *cost);
                let before = key.clone();
                let d = key.acquire(&p, &lease_id, at);
                let expected =
                    model.acquire(limit, lease_ms * 1000, *cost, lease_id.as_bytes(), now);
                prop_assert_eq!(d, expected, "{:?} at {}", op, now);
                let retry_after = match d.retry_after {
                    // The clock stops at MAX_INSTANT: no later instant to retry at.
                    Retry::After(wait) if at + wait <= MAX_INSTANT => Some(wait),
                    _ => None,
                };
                if let Some(wait) = retry_after {
                    // Retrying exactly then fits, a microsecond earlier does not.
                    let mut retry = key.clone();
                    prop_assert!(retry.acquire(&p, &lease_id, at + wait).allowed);
                    let mut early = key.clone();
                    let just_before = at + wait - Micros::from_micros(1);
                    prop_assert!(!early.acquire(&p, &lease_id, just_before).allowed);
                }
                if !d.allowed && before.live(at).is_some_and(|s| s.as_of() <= at) {
                    prop_assert_eq!(&key.state, &before.state, "a denial writes nothing");
                }
            }
            Op::Release { id: lease_id } => {
                let released = key.release(lease_id, at);
                prop_assert_eq!(released, model.release(lease_id, now));
            }
            Op::Renew {
                id: lease_id,
                lease_ms,
            } => {
                let renewed = key.renew(lease_id, ms(*lease_ms), at);
                prop_assert_eq!(renewed, model.renew(lease_id, lease_ms * 1000, now));
            }
        }
        // The key holds what the model holds, and expires with its last lease.
        let stored: Vec<(Vec<u8>, u64, u64)> = key
            .live(at)
            .map(|s| {
                s.iter()
                    .map(|l| (l.id.to_vec(), l.expires_at.as_micros(), l.units))
                    .collect()
            })
            .unwrap_or_default();
        let (view, _) = model.view(now);
        let (seen, _) = key.live(at).map(|s| s.at(at)).unwrap_or_default();
        let seen: Vec<(Vec<u8>, u64, u64)> = seen
            .iter()
            .map(|l| (l.id.to_vec(), l.expires_at.as_micros(), l.units))
            .collect();
        prop_assert_eq!(Model::sorted(&seen), Model::sorted(&view));
        if !stored.is_empty() {
            prop_assert_eq!(Some(key.expire_ms), model.expire_ms);
        }
        // Never more units held than the limit they were admitted under.
        if let Some(state) = key.live(at) {
            prop_assert!(key.held(at) <= state.limit());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// One limit for the whole trace: never more than `limit` units held at any instant.
    #[test]
    fn never_more_than_the_limit_held(
        limit in prop_oneof![1u64..=4, 1u64..=12],
        calls in proptest::collection::vec((step(), Just(0usize), op()), 1..80),
        start in HOUR..1 << 52,
    ) {
        run_trace(&[limit], &calls, start)?;
    }

    /// Limits that change between calls, and every operation, against the model.
    #[test]
    fn acquire_release_renew_follow_the_model(
        limits in proptest::collection::vec(1u64..=8, 1..4),
        calls in proptest::collection::vec((step(), any::<usize>(), op()), 1..80),
        start in prop_oneof![HOUR..1 << 52, Just(MAX_INSTANT.as_micros() - HOUR)],
    ) {
        run_trace(&limits, &calls, start)?;
    }

    /// Any valid state, planted, then acted on at any instant, leaves only valid states that
    /// round-trip through their byte form (SimKey checks every write), and answers like the
    /// model.
    #[test]
    fn any_valid_state_leaves_valid_states(
        planted in valid_leases(),
        calls in proptest::collection::vec(
            (prop_oneof![Just(0u64), Just(MAX_INSTANT.as_micros()), Just(u64::MAX), 0..=MAX_INSTANT.as_micros()], 1u64..=MAX_HELD, op()),
            1..12,
        ),
    ) {
        let mut key = SimKey { state: Some(planted.clone()), expire_ms: u64::MAX };
        let mut model = Model {
            as_of: planted.as_of().as_micros(),
            limit: planted.limit(),
            leases: planted.iter().map(|l| (l.id.to_vec(), l.expires_at.as_micros(), l.units)).collect(),
            expire_ms: Some(u64::MAX),
        };
        for (now, limit, op) in calls {
            let now = now.min(MAX_INSTANT.as_micros());
            let at = Micros::from_micros(now);
            match op {
                Op::Acquire { id: given, cost, lease_ms } => {
                    let lease_id = id(&given.unwrap_or_else(|| b"made".to_vec()));
                    let d = key.acquire(&params(limit, lease_ms, cost), &lease_id, at);
                    let expected = model.acquire(limit, lease_ms * 1000, cost, lease_id.as_bytes(), now);
                    prop_assert_eq!(d, expected);
                }
                Op::Release { id: lease_id } => {
                    prop_assert_eq!(key.release(&lease_id, at), model.release(&lease_id, now));
                }
                Op::Renew { id: lease_id, lease_ms } => {
                    prop_assert_eq!(key.renew(&lease_id, ms(lease_ms), at), model.renew(&lease_id, lease_ms * 1000, now));
                }
            }
        }
    }
}
