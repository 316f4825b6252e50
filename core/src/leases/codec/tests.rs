//! The byte form: stable, checked with the one validity rule, and safe on any input.

use proptest::prelude::*;

use super::*;
use crate::leases::strategies::valid_leases;
use crate::{MAX_INSTANT, MAX_WINDOW};

/// A state's bytes written by hand: (expires_at, units, id) per lease.
fn bytes(version: u8, limit: u64, as_of: u64, leases: &[(u64, u64, &[u8])]) -> Vec<u8> {
    let mut out = vec![version];
    out.extend(limit.to_le_bytes());
    out.extend(as_of.to_le_bytes());
    out.extend((leases.len() as u32).to_le_bytes());
    for (expires_at, units, id) in leases {
        out.extend(expires_at.to_le_bytes());
        out.extend(units.to_le_bytes());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
    }
    out
}

fn leases(limit: u64, as_of: u64, held: &[(u64, u64, &[u8])]) -> Leases {
    let mut state = Leases::new(limit, Micros::from_micros(as_of));
    for (expires_at, units, id) in held {
        state
            .push(id, Micros::from_micros(*expires_at), *units)
            .unwrap();
    }
    state
}

#[test]
fn the_layout_is_stable() {
    // Written files depend on these bytes: a change here needs a new VERSION.
    let held: &[(u64, u64, &[u8])] = &[(5_000_000, 2, b"job-1"), (9_000_000, 1, b"x")];
    let state = leases(3, 1_000_000, held);
    let encoded = encode(&state);
    assert_eq!(encoded, bytes(1, 3, 1_000_000, held));
    assert_eq!(encoded.len(), encoded_len(&state));
    assert_eq!(encoded.len(), 21 + (17 + 5) + (17 + 1));
    assert_eq!(decode(&encoded), Ok(state));
}

#[test]
fn refusals_name_what_is_wrong() {
    assert_eq!(decode(&[]), Err(DecodeError::Length));
    assert_eq!(decode(&[2]), Err(DecodeError::Version(2)));
    let good = bytes(1, 3, 10, &[(20, 1, b"a")]);
    assert!(decode(&good).is_ok());
    assert_eq!(decode(&good[..good.len() - 1]), Err(DecodeError::Length));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(decode(&trailing), Err(DecodeError::Length));
    // A count the bytes cannot hold is refused before anything is allocated for it.
    let mut huge = bytes(1, 3, 10, &[]);
    huge[17..21].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert_eq!(decode(&huge), Err(DecodeError::Length));
    huge[17..21].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(decode(&huge), Err(DecodeError::Invalid(Invalid::Count)));

    let max_window = MAX_WINDOW.as_micros();
    let long_id = [b'i'; 65];
    let cases: &[(Vec<u8>, Invalid)] = &[
        (bytes(1, 0, 10, &[(20, 1, b"a")]), Invalid::Limit),
        (bytes(1, MAX_HELD + 1, 10, &[(20, 1, b"a")]), Invalid::Limit),
        (
            bytes(1, 3, MAX_INSTANT.as_micros() + 1, &[(u64::MAX, 1, b"a")]),
            Invalid::AsOf,
        ),
        (bytes(1, 3, 10, &[]), Invalid::Empty),
        (bytes(1, 3, 10, &[(20, 1, b"")]), Invalid::Id),
        (bytes(1, 3, 10, &[(20, 1, &long_id)]), Invalid::Id),
        (
            bytes(1, 3, 10, &[(20, 1, b"a"), (30, 1, b"a")]),
            Invalid::RepeatedId,
        ),
        (bytes(1, 3, 10, &[(20, 0, b"a")]), Invalid::Units),
        (bytes(1, 3, 10, &[(10, 1, b"a")]), Invalid::Expiry),
        (bytes(1, 3, 10, &[(9, 1, b"a")]), Invalid::Expiry),
        (
            bytes(1, 3, 10, &[(10 + max_window + 1, 1, b"a")]),
            Invalid::Expiry,
        ),
        (
            bytes(1, 3, 10, &[(20, 2, b"a"), (30, 2, b"b")]),
            Invalid::Held,
        ),
        (bytes(1, 3, 10, &[(20, u64::MAX, b"a")]), Invalid::Held),
    ];
    for (bytes, why) in cases {
        assert_eq!(decode(bytes), Err(DecodeError::Invalid(*why)), "{why:?}");
    }
    // The edges themselves are valid.
    let edges = bytes(
        1,
        MAX_HELD,
        MAX_INSTANT.as_micros(),
        &[(MAX_INSTANT.as_micros() + max_window, 1, &[b'i'; 64])],
    );
    assert!(decode(&edges).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn valid_states_round_trip(state in valid_leases()) {
        let encoded = encode(&state);
        prop_assert_eq!(encoded.len(), encoded_len(&state));
        prop_assert_eq!(decode(&encoded), Ok(state));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(state) = decode(&bytes) {
            prop_assert_eq!(state.validate(), Ok(()));
        }
    }

    /// Valid encodings with bytes changed, cut or added reach every check past the header.
    #[test]
    fn damaged_states_never_panic(
        state in valid_leases(),
        damage in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut bytes = encode(&state);
        for (at, value) in damage {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        for candidate in [bytes.clone(), bytes[..cut % bytes.len()].to_vec()] {
            if let Ok(state) = decode(&candidate) {
                prop_assert_eq!(state.validate(), Ok(()));
                prop_assert_eq!(encode(&state), candidate);
            }
        }
    }
}
