//! The byte form: stable, checked with the one validity rule, and still reading version 1.

use proptest::prelude::*;

use super::*;
use crate::strategies::valid_state;
use crate::{MAX_LIMIT, MAX_WINDOW};

fn le(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn bytes(version: u8, kind: u8, words: &[u64]) -> Vec<u8> {
    let mut out = vec![version, kind];
    out.extend(le(words));
    out
}

fn sliding(window: u64, as_of: u64, into: u64, current: u64, previous: u64) -> State {
    State::Sliding(Sliding {
        window: Micros::from_micros(window),
        as_of: Micros::from_micros(as_of),
        into: Micros::from_micros(into),
        current,
        previous,
    })
}

#[test]
fn the_layout_is_stable() {
    // Written files depend on these bytes: a change here needs a new VERSION.
    let state = sliding(60_000_000, 5_000_000, 7, 3, 2);
    assert_eq!(
        encode(&state).as_bytes(),
        bytes(2, 1, &[60_000_000, 5_000_000, 7, 3, 2])
    );
    let bucket = State::Bucket(Bucket {
        window: Micros::from_micros(1_000_000),
        limit: 3,
        burst: 5,
        as_of: Micros::from_micros(9),
        drain: Micros::from_micros(4),
        frac: 2,
    });
    assert_eq!(
        encode(&bucket).as_bytes(),
        bytes(2, 3, &[1_000_000, 3, 5, 9, 4, 2])
    );
}

#[test]
fn version_1_is_still_read() {
    // A window's state is dated at its window's start.
    let v1 = bytes(1, 1, &[60_000_000, 1_000_000_000, 3, 2]);
    assert_eq!(decode(&v1), Ok(sliding(60_000_000, 1_000_000_000, 0, 3, 2)));
    let v1 = bytes(1, 2, &[1_000, 7, 3]);
    let fixed = State::Fixed(Fixed {
        window: Micros::from_micros(1_000),
        as_of: Micros::from_micros(7),
        into: Micros::ZERO,
        count: 3,
    });
    assert_eq!(decode(&v1), Ok(fixed));
    // A bucket is dated when it was last full: 2 of 5 units per second used, its TAT 400,000
    // µs after that instant and 2/3 µs more.
    let v1 = bytes(1, 3, &[1_000_000, 3, 5, 10_000_000, 2]);
    let State::Bucket(b) = decode(&v1).expect("a bucket") else {
        panic!("not a bucket")
    };
    assert_eq!(
        b.level(),
        (10_000_000 - u128::from(b.as_of.as_micros())) * 3 + 2
    );
    assert!(b.level() <= 5 * 1_000_000 && b.level() + 3 > 5 * 1_000_000);
}

#[test]
fn what_module_0_1_accepted_loads() {
    // States that held nothing, which 0.1 kept when RESTORE gave them: lapsed ones now.
    for v1 in [
        bytes(1, 1, &[60_000_000, 1_000, 0, 0]),
        bytes(1, 2, &[60_000_000, 1_000, 0]),
        bytes(1, 3, &[1_000_000, 3, 5, 0, 0]),
    ] {
        let state = decode(&v1).expect("loads");
        assert_eq!(state.validate(), Ok(()));
        assert!(state.expires_at() <= Some(Micros::from_millis(2)));
    }
    // A bucket that drains in less than a microsecond keeps its level.
    let quick = bytes(1, 3, &[1_000, 32_767, 30, (1 << 52) - 1, 0]);
    let State::Bucket(b) = decode(&quick).expect("loads") else {
        panic!("a bucket")
    };
    assert_eq!(b.level(), 30 * 1_000);
    // A bucket holding more than its burst: full.
    let over = bytes(1, 3, &[1_000, MAX_LIMIT, 1, 5, MAX_LIMIT - 1]);
    let State::Bucket(b) = decode(&over).expect("loads") else {
        panic!("a bucket")
    };
    assert_eq!(b.level(), 1_000);
}

/// What module 0.1's decoder accepted (its bounds, as it checked them).
fn accepted_by_0_1(kind: u8, fields: &[u64]) -> bool {
    let window_ok = |w: u64| (1_000..=MAX_WINDOW.as_micros()).contains(&w);
    match (kind, fields) {
        (1, [w, start, c, p]) => {
            window_ok(*w) && *start <= MAX_INSTANT.as_micros() && *c <= MAX_LIMIT && *p <= MAX_LIMIT
        }
        (2, [w, start, c]) => window_ok(*w) && *start <= MAX_INSTANT.as_micros() && *c <= MAX_LIMIT,
        (3, [w, limit, burst, tat, frac]) => {
            window_ok(*w)
                && (1..=MAX_LIMIT).contains(limit)
                && (1..=MAX_LIMIT).contains(burst)
                && u128::from(*burst) * u128::from(*w) <= u128::from(*limit) * MAX_WINDOW.wide()
                && frac < limit
                && *tat <= MAX_INSTANT.as_micros() + MAX_WINDOW.as_micros()
        }
        _ => false,
    }
}

#[test]
fn refusals_name_what_is_wrong() {
    assert_eq!(decode(&[]), Err(DecodeError::Length));
    assert_eq!(decode(&[3, 1]), Err(DecodeError::Version(3)));
    assert_eq!(decode(&[2, 9]), Err(DecodeError::Kind(9)));
    let good = bytes(2, 1, &[1_000, 0, 0, 1, 0]);
    assert!(decode(&good).is_ok());
    assert_eq!(decode(&good[..good.len() - 1]), Err(DecodeError::Length));
    let cases: &[(Vec<u8>, Invalid)] = &[
        (bytes(2, 1, &[0, 0, 0, 1, 0]), Invalid::Window),
        (
            bytes(2, 1, &[MAX_WINDOW.as_micros() + 1, 0, 0, 1, 0]),
            Invalid::Window,
        ),
        (
            bytes(2, 1, &[1_000, MAX_INSTANT.as_micros() + 1, 0, 1, 0]),
            Invalid::AsOf,
        ),
        (bytes(2, 1, &[1_000, 0, 1_000, 1, 0]), Invalid::Into),
        (
            bytes(2, 1, &[1_000, 0, 0, MAX_LIMIT + 1, 0]),
            Invalid::Count,
        ),
        (bytes(2, 1, &[1_000, 0, 0, 0, 0]), Invalid::Empty),
        (bytes(2, 2, &[1_000, 0, 0, 0]), Invalid::Empty),
        (bytes(2, 3, &[1_000, 0, 5, 0, 1, 0]), Invalid::Limit),
        (bytes(2, 3, &[1_000, 3, 0, 0, 1, 0]), Invalid::Burst),
        (
            bytes(2, 3, &[MAX_WINDOW.as_micros(), 1, 2, 0, 1, 0]),
            Invalid::Burst,
        ),
        (bytes(2, 3, &[1_000, 3, 5, 0, 1, 3]), Invalid::Frac),
        (bytes(2, 3, &[1_000, 3, 5, 0, 1_667, 0]), Invalid::Level),
        (bytes(2, 3, &[1_000, 3, 5, 0, 0, 0]), Invalid::Empty),
    ];
    for (bytes, why) in cases {
        assert_eq!(decode(bytes), Err(DecodeError::Invalid(*why)), "{bytes:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn valid_states_round_trip(state in valid_state()) {
        prop_assert_eq!(decode(encode(&state).as_bytes()), Ok(state));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(state) = decode(&bytes) {
            prop_assert_eq!(state.validate(), Ok(()));
        }
    }

    /// Any version 1 state module 0.1 accepted loads as a valid state.
    #[test]
    fn every_version_1_state_0_1_accepted_loads(
        kind in 1u8..=3,
        window in prop_oneof![Just(1_000u64), Just(MAX_WINDOW.as_micros()), 1_000..=MAX_WINDOW.as_micros()],
        instant in prop_oneof![Just(0u64), Just(MAX_INSTANT.as_micros()), Just(MAX_INSTANT.as_micros() + MAX_WINDOW.as_micros()), any::<u64>()],
        a in prop_oneof![Just(0u64), Just(1), Just(MAX_LIMIT), any::<u64>()],
        b in prop_oneof![Just(0u64), Just(1), Just(MAX_LIMIT), any::<u64>()],
        c in any::<u64>(),
    ) {
        let fields: Vec<u64> = match kind {
            1 => vec![window, instant % (MAX_INSTANT.as_micros() + 1), a % (MAX_LIMIT + 1), b % (MAX_LIMIT + 1)],
            2 => vec![window, instant % (MAX_INSTANT.as_micros() + 1), a % (MAX_LIMIT + 1)],
            _ => {
                let limit = a.clamp(1, MAX_LIMIT);
                let most = (u128::from(limit) * MAX_WINDOW.wide() / u128::from(window)).min(u128::from(MAX_LIMIT)) as u64;
                let burst = b.clamp(1, most.max(1));
                let tat = instant % (MAX_INSTANT.as_micros() + MAX_WINDOW.as_micros() + 1);
                vec![window, limit, burst, tat, c % limit]
            }
        };
        prop_assert!(accepted_by_0_1(kind, &fields));
        let state = decode(&bytes(1, kind, &fields)).expect("what 0.1 accepted loads");
        prop_assert_eq!(state.validate(), Ok(()));
    }

    /// Any version 1 bucket module 0.1 accepted loads as a valid state.
    #[test]
    fn version_1_buckets_load(
        window in 1_000u64..=86_400_000_000,
        limit in 1u64..=1_000_000,
        burst in 1u64..=1_000,
        tat in 0u64..=(MAX_INSTANT.as_micros() + MAX_WINDOW.as_micros()),
        frac_seed in any::<u64>(),
    ) {
        prop_assume!(u128::from(burst) * u128::from(window) <= u128::from(limit) * MAX_WINDOW.wide());
        let v1 = bytes(1, 3, &[window, limit, burst, tat, frac_seed % limit]);
        let state = decode(&v1).expect("what 0.1 accepted loads");
        prop_assert_eq!(state.validate(), Ok(()));
    }
}
