//! Any leases state the module may hold, for the property tests: limits, instants and
//! expiries often at the edges of their bounds.

use proptest::prelude::*;

use super::{Leases, MAX_HELD, MAX_ID_LEN};
use crate::strategies::edgy;
use crate::{Micros, MAX_INSTANT, MAX_WINDOW};

/// A lease id: short and often alike (so that traces reuse them), or any 1 to 64 bytes.
pub fn lease_id() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (0u8..6).prop_map(|n| vec![b'a' + n]),
        proptest::collection::vec(any::<u8>(), 1..=MAX_ID_LEN),
    ]
    .boxed()
}

/// Any state `Leases::validate` accepts.
pub fn valid_leases() -> impl Strategy<Value = Leases> {
    (
        edgy(1, MAX_HELD),
        edgy(0, MAX_INSTANT.as_micros()),
        proptest::collection::vec(
            (lease_id(), edgy(1, MAX_WINDOW.as_micros()), any::<u64>()),
            1..8,
        ),
    )
        .prop_map(|(limit, as_of, leases)| {
            let share = (limit / leases.len() as u64).max(1);
            let mut state = Leases::new(limit, Micros::from_micros(as_of));
            for (id, lasts, seed) in leases {
                let expires_at = Micros::from_micros(as_of + lasts);
                let _ = state.push(&id, expires_at, seed % share + 1);
            }
            state
        })
        .prop_filter("valid", |s| s.validate().is_ok())
}
