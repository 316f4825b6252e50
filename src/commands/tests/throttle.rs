//! CL.THROTTLE against a model of redis-cell's published GCRA formula.

use proptest::prelude::*;

use crate::commands::reply::cell_fields;
use rl_core::parse::cell_params;
use rl_core::{Held, Micros, State, Write};

/// redis-cell's published GCRA, transcribed from its description with exact arithmetic:
/// every instant in microseconds multiplied by `count`, so the emission interval
/// `period / count` is the whole number `period`.
struct CellModel {
    max_burst: i128,
    count: i128,
    period_us: i128,
    tat: Option<i128>,
}

impl CellModel {
    fn throttle(&mut self, now_us: u64, quantity: i128) -> [i64; 5] {
        let emission_interval = self.period_us;
        let tolerance = emission_interval * (self.max_burst + 1);
        let increment = emission_interval * quantity;
        let now = i128::from(now_us) * self.count;
        let tat = self.tat.unwrap_or(now).max(now);
        let new_tat = tat + increment;
        let allow_at = new_tat - tolerance;
        let diff = now - allow_at;
        let (limited, retry, ttl) = if diff < 0 {
            let retry = if increment <= tolerance { -diff } else { -1 };
            (1, retry, tat - now)
        } else {
            self.tat = Some(new_tat);
            (0, -1, new_tat - now)
        };
        let next = tolerance - ttl;
        let remaining = if next > -emission_interval {
            next / emission_interval
        } else {
            0
        };
        let seconds =
            |scaled: i128| (scaled as u128).div_ceil(self.count as u128 * 1_000_000) as i64;
        [
            limited,
            (self.max_burst + 1) as i64,
            remaining as i64,
            if retry < 0 { -1 } else { seconds(retry) },
            seconds(ttl),
        ]
    }
}

fn run_trace(
    max_burst: u64,
    count: u64,
    period: u64,
    trace: &[(u64, u64)],
    start: u64,
) -> Result<(), TestCaseError> {
    let mut model = CellModel {
        max_burst: i128::from(max_burst),
        count: i128::from(count),
        period_us: i128::from(period) * 1_000_000,
        tat: None,
    };
    let mut state: Option<State> = None;
    let mut now = start;
    for &(gap_us, quantity) in trace {
        now += gap_us;
        let params = cell_params(
            max_burst.to_string().as_bytes(),
            count.to_string().as_bytes(),
            period.to_string().as_bytes(),
            Some(quantity.to_string().as_bytes()),
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let outcome = rl_core::decide(state.map(Held::State), &params, Micros::from_micros(now));
        let decision = outcome.decision;
        if let Some(Write::State(s)) = outcome.to_store() {
            state = Some(s);
        }
        let expected = model.throttle(now, i128::from(quantity));
        prop_assert_eq!(cell_fields(&decision), expected, "at {}", now - start);
    }
    Ok(())
}

#[test]
fn the_documented_example() {
    // CL.THROTTLE user123 15 30 60 on a new key: allowed, limit 16, 15 left, reset in 2 s.
    run_trace(15, 30, 60, &[(0, 1)], 1_700_000_000_000_000).unwrap();
    let params = cell_params(b"15", b"30", b"60", None).unwrap();
    let d = rl_core::decide(None, &params, Micros::from_micros(1_700_000_000_000_000)).decision;
    assert_eq!(cell_fields(&d), [0, 16, 15, -1, 2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The same request trace through CL.THROTTLE's arithmetic and through the model gives
    /// the same five integers every time, at rates from one per hour to a million per
    /// second.
    #[test]
    fn cl_throttle_follows_redis_cells_formula(
        max_burst in 0u64..20,
        (count, period) in prop_oneof![
            (1u64..=100, 1u64..=120),
            (1_000u64..=1_000_000, Just(1u64)),
            (1u64..=3, Just(3_600u64)),
        ],
        trace in proptest::collection::vec((0u64..3_000_000, 0u64..=25), 1..100),
        start in 1u64 << 40..1 << 52,
    ) {
        run_trace(max_burst, count, period, &trace, start)?;
    }
}
