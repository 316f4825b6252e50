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
    assert_eq!(overall.reset_after, Micros::from_millis(900));
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
    assert_eq!(overall.remaining, 0);
    let never = [all[1], decision(false, 3, Retry::Never, 0)];
    assert_eq!(combine(&never).unwrap().1, 1);
    assert_eq!(combine(&[]), None);
}
