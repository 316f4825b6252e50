//! RL.HIT against a real server: the replies users see.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::*;

#[test]
fn a_fresh_key_admits_the_limit_then_denies_with_a_retry_inside_the_window() {
    let server = Server::start();
    let mut con = server.conn();
    for remaining in (0..10).rev() {
        assert_eq!(
            hit(&mut con, b"user:1", 10, "60")[..4],
            [1, 10, remaining, 0]
        );
    }
    let [allowed, limit, remaining, retry, reset] = hit(&mut con, b"user:1", 10, "60");
    assert_eq!([allowed, limit, remaining], [0, 10, 0]);
    assert!((50_000..=60_000).contains(&retry), "retry {retry}");
    assert!((100_000..=114_000).contains(&reset), "reset {reset}");
    let ttl = pttl(&mut con, b"user:1");
    assert!(
        ttl > 0 && (ttl - reset).abs() <= 1_000,
        "pttl {ttl}, reset {reset}"
    );
}

#[test]
fn one_transaction_sees_one_instant() {
    let server = Server::start();
    let mut con = server.conn();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for _ in 0..12 {
        pipe.cmd("RL.HIT").arg("tx").arg(10).arg("60");
    }
    let replies: Vec<Vec<i64>> = pipe.query(&mut con).expect("EXEC");
    for (i, reply) in replies.iter().take(10).enumerate() {
        assert_eq!(reply[..4], [1, 10, 9 - i as i64, 0]);
    }
    if server.has_command_time_snapshot() {
        // Every command of the transaction runs at the same instant: the figures are exact.
        assert_eq!(replies[10], [0, 10, 0, 60_000, 114_000]);
        assert_eq!(replies[11], replies[10]);
    } else {
        // Redis 7.0 has no command-time snapshot for modules: the wall clock moves on.
        assert!((59_000..=60_000).contains(&replies[10][3]));
    }
}

#[test]
fn admitted_again_after_waiting_retry_after() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(hit(&mut con, b"k", 2, "300ms")[0], 1);
    assert_eq!(hit(&mut con, b"k", 2, "300ms")[0], 1);
    let denied = hit(&mut con, b"k", 2, "300ms");
    assert_eq!(denied[0], 0);
    assert!(denied[3] > 0 && denied[3] <= 300, "retry {}", denied[3]);
    sleep(Duration::from_millis(denied[3] as u64));
    assert_eq!(hit(&mut con, b"k", 2, "300ms")[0], 1);
}

#[test]
fn cost_consumes_that_many_units() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        hit_with(&mut con, b"bytes", 10, "60", &["COST", "4"])[..4],
        [1, 10, 6, 0]
    );
    let too_much = hit_with(&mut con, b"bytes", 10, "60", &["COST", "7"]);
    assert_eq!(too_much[..3], [0, 10, 6]);
    assert!(too_much[3] > 0);
    assert_eq!(
        hit_with(&mut con, b"bytes", 10, "60", &["cost", "6"])[..4],
        [1, 10, 0, 0]
    );
    // More than the whole capacity can never be admitted.
    assert_eq!(
        hit_with(&mut con, b"big", 10, "60", &["COST", "11"])[..4],
        [0, 10, 10, -1]
    );
    let exists: bool = redis::cmd("EXISTS").arg("big").query(&mut con).unwrap();
    assert!(!exists, "a denied hit creates no key");
}

#[test]
fn keys_expire_once_back_to_full_capacity() {
    let server = Server::start();
    let mut con = server.conn();
    let reply = hit(&mut con, b"short", 5, "100ms");
    let ttl = pttl(&mut con, b"short");
    // The key's expiry is the reset instant rounded up to a whole millisecond, and PTTL counts
    // from the current millisecond rounded down: they may differ by 1.
    assert!(
        ttl > 0 && ttl <= reply[4] + 1,
        "pttl {ttl}, reset {}",
        reply[4]
    );
    assert!(wait_until(5, || {
        !redis::cmd("EXISTS")
            .arg("short")
            .query::<bool>(&mut con)
            .unwrap()
    }));
    // Back at full capacity as a new key.
    assert_eq!(hit(&mut con, b"short", 5, "100ms")[..3], [1, 5, 4]);
}

#[test]
fn every_stored_key_has_a_ttl() {
    let server = Server::start();
    let mut con = server.conn();
    for (i, window) in ["1ms", "250ms", "10s", "5m", "1h", "1d", "365d", "36500d"]
        .iter()
        .enumerate()
    {
        let key = format!("w{i}");
        let reply = hit(&mut con, key.as_bytes(), 3, window);
        assert_eq!(reply[0], 1, "window {window}");
        let expire_at = pexpiretime(&mut con, key.as_bytes());
        let ttl = pttl(&mut con, key.as_bytes());
        // A 1 ms window may already have lapsed: then the key is gone (-2), never eternal (-1).
        assert!(ttl > 0 || ttl == -2, "window {window}: pttl {ttl}");
        assert!(
            expire_at > 0 || expire_at == -2,
            "window {window}: {expire_at}"
        );
        assert!(
            ttl <= reply[4] + 1,
            "window {window}: pttl {ttl} > reset {}",
            reply[4]
        );
    }
}

#[test]
fn binary_and_empty_key_names_are_keys() {
    let server = Server::start();
    let mut con = server.conn();
    let odd: &[u8] = b"\x00\xff\r\n key";
    assert_eq!(hit(&mut con, b"", 2, "60")[..3], [1, 2, 1]);
    assert_eq!(hit(&mut con, odd, 2, "60")[..3], [1, 2, 1]);
    assert_eq!(hit(&mut con, b"", 2, "60")[..3], [1, 2, 0]);
    assert_eq!(hit(&mut con, odd, 2, "60")[..3], [1, 2, 0]);
    let kind: String = redis::cmd("TYPE").arg(odd).query(&mut con).unwrap();
    assert_eq!(kind, "ratelimit");
}

#[test]
fn a_denied_hit_changes_nothing_on_disk() {
    let server = Server::start();
    let mut con = server.conn();
    let changes = |con: &mut Connection| -> i64 {
        let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("rdb_changes_since_last_save")
    };
    hit(&mut con, b"d", 1, "60");
    let before = changes(&mut con);
    let dumped = dump(&mut con, b"d");
    assert_eq!(hit(&mut con, b"d", 1, "60")[0], 0);
    assert_eq!(changes(&mut con), before, "a denied hit is not a change");
    assert_eq!(dump(&mut con, b"d"), dumped);
    hit(&mut con, b"other", 1, "60");
    assert_eq!(
        changes(&mut con),
        before + 1,
        "an admitted hit is one change"
    );
}

#[test]
fn info_counts_decisions() {
    let server = Server::start();
    let mut con = server.conn();
    for _ in 0..3 {
        hit(&mut con, b"i", 2, "60");
    }
    let info: String = redis::cmd("INFO").arg("rl").query(&mut con).unwrap();
    assert!(info.contains("rl_allowed:2"), "{info}");
    assert!(info.contains("rl_denied:1"), "{info}");
}

#[test]
fn a_persisted_key_gets_its_expiry_back_at_the_next_hit() {
    let server = Server::start();
    let mut con = server.conn();
    hit(&mut con, b"p", 10, "1h");
    let expire_at = pexpiretime(&mut con, b"p");
    let _: () = redis::cmd("PERSIST").arg("p").query(&mut con).unwrap();
    assert_eq!(pexpiretime(&mut con, b"p"), -1);
    hit(&mut con, b"p", 10, "1h");
    assert_eq!(pexpiretime(&mut con, b"p"), expire_at);
    let _: () = redis::cmd("PEXPIRE")
        .arg("p")
        .arg(5)
        .query(&mut con)
        .unwrap();
    hit(&mut con, b"p", 10, "1h");
    assert_eq!(
        pexpiretime(&mut con, b"p"),
        expire_at,
        "the state decides when the key expires"
    );
}
