//! Strategies shared by the property tests: parameters of every algorithm, and any state the
//! module may hold, its fields drawn often from the edges of their bounds.

use proptest::prelude::*;

use crate::engines::bucket::Bucket;
use crate::engines::fixed::Fixed;
use crate::engines::sliding::Sliding;
use crate::{Algorithm, Micros, State, MAX_INSTANT, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW};

pub fn algorithm() -> impl Strategy<Value = Algorithm> {
    proptest::sample::select(Algorithm::ALL.to_vec())
}

/// A value in `low..=high`, one time in two at or next to an edge (and to the edges of the
/// compact in-memory form's fields).
pub fn edgy(low: u64, high: u64) -> BoxedStrategy<u64> {
    let mut edges = vec![
        low,
        high,
        low.saturating_add(1).min(high),
        high.saturating_sub(1).max(low),
    ];
    for bits in [21u32, 22, 32, 33, 42, 44, 52, 53, 56] {
        let edge = 1u64 << bits;
        for e in [edge - 1, edge, edge + 1] {
            if (low..=high).contains(&e) {
                edges.push(e);
            }
        }
    }
    prop_oneof![proptest::sample::select(edges), low..=high].boxed()
}

/// A window: whole milliseconds (the common case) or any microseconds.
pub fn window() -> BoxedStrategy<Micros> {
    prop_oneof![
        edgy(1, MAX_WINDOW.as_micros() / 1000).prop_map(Micros::from_millis),
        edgy(MIN_WINDOW.as_micros(), MAX_WINDOW.as_micros()).prop_map(Micros::from_micros),
    ]
    .boxed()
}

/// Any state `State::validate` accepts, edges of every bound included.
pub fn valid_state() -> impl Strategy<Value = State> {
    let instant = edgy(0, MAX_INSTANT.as_micros());
    (
        0u8..3,
        window(),
        instant,
        any::<u64>(),
        edgy(0, MAX_LIMIT),
        edgy(0, MAX_LIMIT),
    )
        .prop_flat_map(|(kind, window, as_of, seed, a, b)| {
            let into = edgy(0, window.as_micros() - 1);
            match kind {
                0 => (into, Just(a), Just(b))
                    .prop_map(move |(into, current, previous)| {
                        State::Sliding(Sliding {
                            window,
                            as_of: Micros::from_micros(as_of),
                            into: Micros::from_micros(into),
                            current,
                            previous,
                        })
                    })
                    .boxed(),
                1 => into
                    .prop_map(move |into| {
                        State::Fixed(Fixed {
                            window,
                            as_of: Micros::from_micros(as_of),
                            into: Micros::from_micros(into),
                            count: a,
                        })
                    })
                    .boxed(),
                _ => {
                    let limit = a.max(1);
                    // The largest burst that drains within MAX_WINDOW.
                    let most = (u128::from(limit) * MAX_WINDOW.wide() / window.wide())
                        .min(u128::from(MAX_LIMIT)) as u64;
                    (edgy(1, most), Just(seed))
                        .prop_flat_map(move |(burst, seed)| {
                            let capacity = u128::from(burst) * window.wide();
                            let level = prop_oneof![
                                Just(capacity),
                                Just(1u128),
                                Just(u128::from(seed) % capacity + 1),
                            ];
                            level.prop_map(move |level| {
                                State::Bucket(Bucket {
                                    window,
                                    limit,
                                    burst,
                                    as_of: Micros::from_micros(as_of),
                                    drain: Micros::from_micros((level / u128::from(limit)) as u64),
                                    frac: (level % u128::from(limit)) as u64,
                                })
                            })
                        })
                        .boxed()
                }
            }
        })
        .prop_filter("carries usage", |s| s.validate().is_ok())
}
