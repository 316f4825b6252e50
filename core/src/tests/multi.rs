//! Several limits decided as one.

use crate::multi::combine;
use crate::{Decision, Micros, Retry};

fn decision(allowed: bool, remaining: u64, retry: Retry, reset_ms: u64) -> Decision {
    Decision {
        allowed,
        capacity: remaining + 10,
        remaining,
        retry_after: retry,
        reset_after: Micros::from_millis(reset_ms),
    }
}

#[test]
fn admitted_when_all_admit_decided_by_the_tightest() {
    let all = [
        decision(true, 5, Retry::Now, 100),
        decision(true, 2, Retry::Now, 50),
        decision(true, 2, Retry::Now, 900),
    ];
    let (overall, index) = combine(&all).unwrap();
    assert_eq!(index, 1);
    assert!(overall.allowed);
    assert_eq!(overall.remaining, 2);
    assert_eq!(overall.capacity, 12);
    // The deciding limit's own reset, not another's.
    assert_eq!(overall.reset_after, Micros::from_millis(50));
}

#[test]
fn denied_by_the_longest_wait() {
    let all = [
        decision(true, 5, Retry::Now, 100),
        decision(false, 0, Retry::After(Micros::from_micros(10)), 50),
        decision(false, 1, Retry::After(Micros::from_micros(99)), 70),
    ];
    let (overall, index) = combine(&all).unwrap();
    assert_eq!(index, 2);
    assert!(!overall.allowed);
    assert_eq!(overall.retry_after, Retry::After(Micros::from_micros(99)));
    // The deciding limit's remaining and reset, although another has fewer left.
    assert_eq!(overall.remaining, 1);
    assert_eq!(overall.capacity, 11);
    assert_eq!(overall.reset_after, Micros::from_millis(70));
    let never = [all[1], decision(false, 3, Retry::Never, 0)];
    assert_eq!(combine(&never).unwrap().1, 1);
    assert_eq!(combine(&[]), None);
}

mod all_or_nothing {
    use proptest::prelude::*;

    use crate::multi::decide_all;
    use crate::tests::trace::{limits, Limit};
    use crate::tests::SimKey;
    use crate::{Micros, Value, Write};

    /// Stores what `decide_all` wrote for one key, as the module's store does.
    fn store(key: &mut SimKey, write: Option<Write>) {
        let Some(write) = write else { return };
        let mut value = match (key.value.take(), &write) {
            (Some(v), Write::Edit(_)) => v,
            (_, Write::State(s)) => Value::State(*s),
            (_, Write::Log(l)) => Value::Log(l.clone()),
            (None, Write::Edit(_)) => panic!("an edit of a key holding nothing"),
        };
        value.apply(&write);
        key.expire_ms = value.expires_at().map_or(0, |at| at.ceil_millis());
        key.value = value.expires_at().is_some().then_some(value);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Several limits decide as one: admitted exactly when each would admit alone, and
        /// then each key is what a hit of its own would leave; denied, and no limit's usage
        /// changes. Either way the answer is the deciding limit's.
        #[test]
        fn every_limit_consumes_or_none_does(
            chosen in proptest::collection::vec(limits(), 2..5),
            steps in proptest::collection::vec((0u64..3_000_000, 1u64..=4), 1..60),
            start in 1u64 << 40..1u64 << 50,
        ) {
            let mut keys: Vec<SimKey> = chosen.iter().map(|_| SimKey::default()).collect();
            let mut now = start;
            for (gap, cost) in steps {
                now += gap;
                let at = Micros::from_micros(now);
                let params: Vec<_> = chosen.iter().map(|l: &Limit| l.params(cost)).collect();
                for key in &mut keys {
                    if key.live(at).is_none() {
                        key.value = None;
                    }
                }
                let alone: Vec<_> = keys.iter().zip(&params).map(|(k, p)| k.peek(p, at)).collect();
                let held: Vec<_> = keys.iter().map(|k| k.value.as_ref().map(Value::held)).collect();
                let outcome = decide_all(&held, &params, at).expect("one value per limit");
                let admitted = alone.iter().all(|d| d.allowed);
                prop_assert_eq!(outcome.decision.allowed, admitted);
                // The answer is the deciding limit's own, as it would answer alone.
                prop_assert_eq!(outcome.decision, alone[outcome.deciding]);
                let before: Vec<SimKey> = keys.clone();
                for (key, write) in keys.iter_mut().zip(outcome.to_store.as_slice()) {
                    store(key, write.clone());
                }
                for ((key, was), p) in keys.iter().zip(&before).zip(&params) {
                    let mut expected = was.clone();
                    if admitted {
                        expected.hit(p, at);
                        prop_assert_eq!(&key.value, &expected.value);
                    } else {
                        // Nothing consumed: each limit stands where it stood.
                        let standing = p.with_cost(0);
                        prop_assert_eq!(key.peek(&standing, at), was.peek(&standing, at));
                    }
                }
            }
        }
    }
}
