//! Every algorithm through RL.HIT on a real server, the default-algorithm config, and keys hit
//! with parameters other than the ones they were created with.

mod common;

use common::*;

fn algo(
    con: &mut Connection,
    key: &str,
    limit: u64,
    window: &str,
    algo: &str,
    extra: &[&str],
) -> [i64; 5] {
    let mut options = vec!["ALGO", algo];
    options.extend_from_slice(extra);
    hit_with(con, key.as_bytes(), limit, window, &options)
}

#[test]
fn fixed_admits_limit_per_window_from_the_first_hit() {
    let server = Server::start();
    let mut con = server.conn();
    for remaining in (0..5).rev() {
        assert_eq!(
            algo(&mut con, "f", 5, "60", "FIXED", &[])[..4],
            [1, 5, remaining, 0]
        );
    }
    let [allowed, limit, remaining, retry, reset] = algo(&mut con, "f", 5, "60", "FIXED", &[]);
    assert_eq!([allowed, limit, remaining], [0, 5, 0]);
    assert!((55_000..=60_000).contains(&retry), "retry {retry}");
    assert_eq!(retry, reset, "the window closes when the key is full again");
    let ttl = pttl(&mut con, "f");
    assert!(ttl > 0 && ttl <= reset + 1);
}

#[test]
fn buckets_hold_burst_and_refill_at_the_rate() {
    let server = Server::start();
    let mut con = server.conn();
    for name in ["TOKEN", "LEAKY", "GCRA"] {
        let key = format!("bucket:{name}");
        for remaining in (0..3).rev() {
            let reply = algo(&mut con, &key, 10, "1s", name, &["BURST", "3"]);
            assert_eq!(reply[..4], [1, 3, remaining, 0], "{name}");
        }
        let [allowed, limit, remaining, retry, reset] =
            algo(&mut con, &key, 10, "1s", name, &["BURST", "3"]);
        assert_eq!([allowed, limit, remaining], [0, 3, 0], "{name}");
        assert!(
            (90..=100).contains(&retry),
            "{name}: one unit every 100 ms, retry {retry}"
        );
        assert!((290..=300).contains(&reset), "{name}: reset {reset}");
    }
}

#[test]
fn token_leaky_and_gcra_answer_alike() {
    let server = Server::start();
    let mut con = server.conn();
    let mut tx = redis::pipe();
    tx.atomic();
    for cost in [2, 3, 1, 4, 1, 9] {
        for name in ["TOKEN", "LEAKY", "GCRA"] {
            tx.cmd("RL.HIT")
                .arg(format!("same:{name}"))
                .arg(7)
                .arg("1h")
                .arg(&["ALGO", name, "BURST", "8", "COST"])
                .arg(cost);
        }
    }
    let replies: Vec<Vec<i64>> = tx.query(&mut con).unwrap();
    for triple in replies.chunks(3) {
        if server.has_command_time_snapshot() {
            assert_eq!(triple[0], triple[1]);
            assert_eq!(triple[1], triple[2]);
        } else {
            // The wall clock moves between the three calls; the decisions do not.
            assert_eq!(triple[0][..3], triple[1][..3]);
            assert_eq!(triple[1][..3], triple[2][..3]);
        }
    }
    // 2, 3 and 1 fit in 8; 4 does not; 1 does; 9 never can.
    assert_eq!(replies.iter().filter(|r| r[0] == 1).count(), 4 * 3);
    assert_eq!(replies[15][3], -1, "cost 9 exceeds burst 8");
}

#[test]
fn rates_far_above_and_below_a_thousand_per_second() {
    let server = Server::start();
    let mut con = server.conn();
    // A million per second: the whole second's capacity at once, then one unit per µs.
    let all = algo(
        &mut con,
        "fast",
        1_000_000,
        "1s",
        "GCRA",
        &["COST", "1000000"],
    );
    assert_eq!(all[..3], [1, 1_000_000, 0]);
    let next = algo(&mut con, "fast", 1_000_000, "1s", "GCRA", &[]);
    assert!(next[0] == 1 || next[3] == 1, "{next:?}");
    // One per day.
    assert_eq!(
        algo(&mut con, "slow", 1, "1d", "TOKEN", &[])[..3],
        [1, 1, 0]
    );
    let denied = algo(&mut con, "slow", 1, "1d", "TOKEN", &[]);
    assert_eq!(denied[0], 0);
    assert!((86_399_000..=86_400_000).contains(&denied[3]), "{denied:?}");
}

#[test]
fn the_default_algorithm_is_a_config() {
    let server = Server::start();
    let mut con = server.conn();
    let value = config_get(&mut con, "rl.default-algorithm");
    assert_eq!(value, ["rl.default-algorithm", "sliding"]);
    let error = error_of(&mut con, &[b"RL.HIT", b"k", b"10", b"1s", b"BURST", b"20"]);
    assert!(
        error.starts_with("ERR BURST applies to ALGO TOKEN"),
        "{error}"
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rl.default-algorithm")
        .arg("gcra")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        hit_with(&mut con, b"k", 10, "1s", &["BURST", "20"])[..3],
        [1, 20, 19]
    );
    let kind: Vec<u8> = dump(&mut con, b"k").unwrap();
    assert!(!kind.is_empty());
    let bad = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rl.default-algorithm")
        .arg("bogus")
        .query::<()>(&mut con);
    assert!(bad.is_err());
}

#[test]
fn the_default_algorithm_as_a_module_argument() {
    let server = Server::start_with(
        Options::default().module_args(&["default-algorithm", "fixed"]),
        &scratch_dir("default-fixed"),
    );
    let mut con = server.conn();
    let value = config_get(&mut con, "rl.default-algorithm");
    assert_eq!(value[1], "fixed");
    for _ in 0..3 {
        hit(&mut con, b"k", 3, "60");
    }
    let denied = hit(&mut con, b"k", 3, "60");
    assert_eq!(
        denied[3], denied[4],
        "a fixed window: retry when the window closes"
    );
}

#[test]
fn changed_parameters_carry_the_usage_over() {
    let server = Server::start();
    let mut con = server.conn();
    for _ in 0..6 {
        hit(&mut con, b"k", 10, "1h");
    }
    // Raised limit: the 6 units stay counted.
    assert_eq!(hit(&mut con, b"k", 100, "1h")[..3], [1, 100, 93]);
    // Lowered below the usage: denied until it decays, nothing negative.
    let lowered = hit(&mut con, b"k", 5, "1h");
    assert_eq!(lowered[..3], [0, 5, 0]);
    assert!(lowered[3] > 0 && lowered[4] > 0);
    // Another algorithm: the 7 units in use carry over into a bucket of 10.
    assert_eq!(algo(&mut con, "k", 10, "1h", "GCRA", &[])[..3], [1, 10, 2]);
    assert_eq!(algo(&mut con, "k", 10, "1h", "FIXED", &[])[..3], [1, 10, 1]);
    // Another window.
    let shorter = hit(&mut con, b"k", 10, "1s");
    assert_eq!(shorter[..3], [1, 10, 0]);
    assert!(pttl(&mut con, "k") > 0, "the key always expires");
    assert!(pttl(&mut con, "k") <= 2_000);
}
