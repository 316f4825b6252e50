//! Clocks that step on a running server, and a failover to a host whose clock is behind. A
//! state dated later than the clock is read as it stood at its own instant, moved to now: usage
//! is never forgotten nor counted twice, a wait answered holds on the clock as it is now, and
//! the key's PTTL is the reset_after answered.

mod common;

use common::clock::Clock;
use common::states::{plant, State, MAX_INSTANT_US};
use common::*;

const ALGORITHMS: [&str; 6] = ["SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA", "LOG"];
const HOUR_US: i64 = 3_600_000_000;

fn server_on(clock: &Clock, label: &str, options: Options) -> Server {
    Server::start_with(clock.options(options), &scratch_dir(label))
}

#[test]
fn a_step_back_keeps_the_units_in_use_and_no_more() {
    let dir = scratch_dir("step-back");
    let mut clock = Clock::new(&dir);
    let server = Server::start_with(clock.options(Options::default()), &dir);
    let mut con = server.conn();
    // Frozen, at a whole millisecond, so that PTTL reads the instant the hit saw (Valkey adds
    // up to a millisecond of its own).
    clock.freeze(states::now_us() / 1000 * 1000);
    clock.wait_seen(&mut con);
    for algo in ALGORITHMS {
        assert_eq!(
            hit_with(&mut con, algo.as_bytes(), 10, "60", &["ALGO", algo])[..3],
            [1, 10, 9]
        );
    }
    clock.advance(-HOUR_US);
    clock.wait_seen(&mut con);
    for algo in ALGORITHMS {
        let reply = hit_with(&mut con, algo.as_bytes(), 10, "60", &["ALGO", algo]);
        assert_eq!(reply[..3], [1, 10, 8], "{algo}");
        assert!(reply[4] <= 120_000, "{algo}: {reply:?}");
        assert!(
            (reply[4] - pttl(&mut con, algo)).abs() <= 1,
            "{algo}: {reply:?}"
        );
    }
}

#[test]
fn after_a_step_back_retry_after_is_honoured() {
    let dir = scratch_dir("retry-back");
    let mut clock = Clock::new(&dir);
    let server = Server::start_with(clock.options(Options::default()), &dir);
    let mut con = server.conn();
    // At a whole millisecond: Valkey adds up to one of its own to a frozen clock.
    clock.freeze(states::now_us() / 1000 * 1000);
    clock.wait_seen(&mut con);
    for algo in ALGORITHMS {
        for _ in 0..5 {
            assert_eq!(
                hit_with(&mut con, algo.as_bytes(), 5, "60", &["ALGO", algo])[0],
                1
            );
        }
    }
    clock.advance(-HOUR_US);
    clock.wait_seen(&mut con);
    let mut waits = Vec::new();
    for algo in ALGORITHMS {
        let reply = hit_with(&mut con, algo.as_bytes(), 5, "60", &["ALGO", algo]);
        assert_eq!(reply[0], 0, "{algo}");
        assert!(
            reply[3] > 0 && reply[3] <= 60_000,
            "{algo} waits at most a window: {reply:?}"
        );
        assert!(
            (reply[4] - pttl(&mut con, algo)).abs() <= 1,
            "{algo}: {reply:?}"
        );
        waits.push((algo, reply[3]));
    }
    waits.sort_by_key(|w| w.1);
    let mut waited = 0;
    for (algo, wait) in waits {
        // Valkey adds up to a millisecond of its own to a frozen clock: waiting that much
        // longer covers it (the exact wait is proven by the limiter's property tests).
        clock.advance((wait + 1 - waited) * 1000);
        waited = wait + 1;
        clock.wait_seen(&mut con);
        let reply = hit_with(&mut con, algo.as_bytes(), 5, "60", &["ALGO", algo]);
        assert_eq!(
            reply[0], 1,
            "{algo} admitted after waiting {wait} ms: {reply:?}"
        );
    }
}

#[test]
fn a_failover_to_a_replica_whose_clock_is_behind() {
    // The primary runs 10 minutes ahead; its replica keeps the right time and is promoted.
    let ahead = Clock::new(&scratch_dir("clock-ahead"));
    let mut primary_clock = ahead;
    primary_clock.shift(10 * 60 * 1_000_000);
    let primary = server_on(
        &primary_clock,
        "skewed-primary",
        Options::default().config("repl-diskless-sync-delay", "0"),
    );
    let replica = Server::start();
    let (mut p, mut r) = (primary.conn(), replica.conn());
    attach_replica(&replica, &primary);
    for algo in ALGORITHMS {
        let full = format!("full:{algo}");
        for _ in 0..5 {
            hit_with(&mut p, full.as_bytes(), 5, "60", &["ALGO", algo]);
        }
        hit_with(
            &mut p,
            format!("one:{algo}").as_bytes(),
            10,
            "60",
            &["ALGO", algo],
        );
    }
    settle(&mut p);
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut r)
        .unwrap();
    for algo in ALGORITHMS {
        let full = format!("full:{algo}");
        let reply = hit_with(&mut r, full.as_bytes(), 5, "60", &["ALGO", algo]);
        assert_eq!(reply[0], 0, "{algo}");
        assert!(
            reply[3] <= 60_000,
            "{algo} waits no more than a window: {reply:?}"
        );
        assert!(
            // PTTL is read after the reply, on a running clock (which Valkey reads up to a
            // millisecond behind).
            (-1..=1_000).contains(&(reply[4] - pttl(&mut r, &full))),
            "{algo}: {reply:?}"
        );
        let one = format!("one:{algo}");
        let reply = hit_with(&mut r, one.as_bytes(), 10, "60", &["ALGO", algo]);
        assert_eq!(reply[..3], [1, 10, 8], "{algo}");
    }
}

#[test]
fn a_state_dated_far_ahead_weighs_what_it_weighed_at_its_own_instant() {
    // The same usage planted twice, dated now and dated in the year 4253 (a forged or corrupt
    // state, or one from a host with a wild clock): both keys answer alike.
    let dir = scratch_dir("far-ahead");
    let mut clock = Clock::new(&dir);
    let server = Server::start_with(clock.options(Options::default()), &dir);
    let mut con = server.conn();
    // At a whole millisecond: Valkey adds up to one of its own to a frozen clock.
    let now = states::now_us() / 1000 * 1000;
    clock.freeze(now);
    clock.wait_seen(&mut con);
    let window = 60_000_000;
    let usage = |as_of: u64| {
        [
            (
                "SLIDING",
                State::Sliding {
                    window,
                    as_of,
                    into: 1_000_000,
                    current: 4,
                    previous: 3,
                },
            ),
            (
                "FIXED",
                State::Fixed {
                    window,
                    as_of,
                    into: 1_000_000,
                    count: 5,
                },
            ),
            (
                "GCRA",
                State::Bucket {
                    window,
                    limit: 5,
                    burst: 5,
                    as_of,
                    drain: 50_000_000,
                    frac: 3,
                },
            ),
        ]
    };
    for ((algo, ahead), (_, on_time)) in usage(MAX_INSTANT_US).into_iter().zip(usage(now)) {
        plant(&mut con, b"ahead", 0, &ahead.bytes()).expect("a valid state");
        plant(&mut con, b"on-time", 0, &on_time.bytes()).expect("a valid state");
        let a = hit_with(&mut con, b"ahead", 5, "60", &["ALGO", algo]);
        let b = hit_with(&mut con, b"on-time", 5, "60", &["ALGO", algo]);
        assert_eq!(a[..3], b[..3], "{algo}");
        // Valkey adds up to a millisecond of its own to a frozen clock.
        assert!(
            (a[3] - b[3]).abs() <= 1 && (a[4] - b[4]).abs() <= 1,
            "{algo}: {a:?} {b:?}"
        );
        assert!((a[4] - pttl(&mut con, "ahead")).abs() <= 1, "{algo}: {a:?}");
    }
}
