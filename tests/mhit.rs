//! RL.MHIT: several limits in one all-or-nothing decision.

mod common;

use common::*;

fn mhit(con: &mut Connection, args: &[&str]) -> [i64; 6] {
    let reply: Vec<i64> = redis::cmd("RL.MHIT").arg(args).query(con).unwrap();
    reply.try_into().unwrap()
}

fn peek(con: &mut Connection, key: &str, limit: u64, window: &str) -> [i64; 5] {
    peek_with(con, key.as_bytes(), limit, window, &[])
}

const PER_SECOND_AND_HOUR: &[&str] = &[
    "2",
    "{u42}:sec",
    "{u42}:hour",
    "LIMIT",
    "3",
    "1s",
    "LIMIT",
    "5",
    "1h",
];

#[test]
fn all_limits_consume_or_none_does() {
    let server = Server::start();
    let mut con = server.conn();
    // Three per second: the first three pass both limits; the second limit is the tighter
    // one once it has fewer left.
    let first = mhit(&mut con, PER_SECOND_AND_HOUR);
    assert_eq!(
        (first[0], first[1], first[2], first[3], first[5]),
        (1, 3, 2, 0, 1)
    );
    // Every field is the deciding limit's: its reset, not the hourly limit's.
    let sec_pttl = pttl(&mut con, "{u42}:sec");
    assert!(
        first[4] + 1 >= sec_pttl && first[4] <= 2_000,
        "the per-second limit's reset ({sec_pttl} ms left): {first:?}"
    );
    let second = mhit(&mut con, PER_SECOND_AND_HOUR);
    assert_eq!(second[..4], [1, 3, 1, 0]);
    let third = mhit(&mut con, PER_SECOND_AND_HOUR);
    assert_eq!(third[..4], [1, 3, 0, 0]);
    // The per-second limit denies: the hourly one is not consumed.
    let denied = mhit(&mut con, PER_SECOND_AND_HOUR);
    assert_eq!(denied[..3], [0, 3, 0]);
    assert!(denied[3] > 0 && denied[3] <= 1_000, "{denied:?}");
    assert_eq!(denied[5], 1, "decided by the first key");
    assert_eq!(
        peek(&mut con, "{u42}:hour", 5, "1h")[2],
        1,
        "the hourly limit used 3 of 5, not 4"
    );
}

#[test]
fn the_reply_names_the_deciding_limit() {
    let server = Server::start();
    let mut con = server.conn();
    let args = ["2", "a", "b", "LIMIT", "10", "1h", "LIMIT", "2", "1h"];
    let first = mhit(&mut con, &args);
    assert_eq!((first[0], first[1], first[2], first[5]), (1, 2, 1, 2));
    mhit(&mut con, &args);
    let denied = mhit(&mut con, &args);
    assert_eq!((denied[0], denied[1], denied[5]), (0, 2, 2));
    assert!(denied[3] > 0);
    // Never: the cost exceeds the second limit's capacity.
    let never = mhit(
        &mut con,
        &[
            "2", "x", "y", "LIMIT", "10", "1h", "LIMIT", "2", "1h", "COST", "3",
        ],
    );
    assert_eq!((never[0], never[3], never[5]), (0, -1, 2));
}

#[test]
fn sixteen_limits_of_every_algorithm() {
    let server = Server::start();
    let mut con = server.conn();
    let algos = ["SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA"];
    let keys: Vec<String> = (0..16).map(|i| format!("{{user}}:{i}")).collect();
    let mut args: Vec<String> = vec!["16".into()];
    args.extend(keys.iter().cloned());
    for i in 0..16 {
        args.extend([
            "LIMIT".into(),
            (10 + i).to_string(),
            "1h".into(),
            "ALGO".into(),
            algos[i % 5].into(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for remaining in (0..10).rev() {
        let reply = mhit(&mut con, &args);
        assert_eq!(reply[..3], [1, 10, remaining]);
        assert_eq!(reply[5], 1, "the smallest limit is the tightest");
    }
    let denied = mhit(&mut con, &args);
    assert_eq!((denied[0], denied[5]), (0, 1));
    // The other fifteen were not consumed by the denied call.
    for (i, key) in keys.iter().enumerate().skip(1) {
        let reply: Vec<i64> = redis::cmd("RL.PEEK")
            .arg(key)
            .arg(10 + i)
            .arg("1h")
            .arg(&["ALGO", algos[i % 5]])
            .query(&mut con)
            .unwrap();
        assert_eq!(
            reply[2],
            i as i64 - 1,
            "{key}: 10 of {} used, and the peek's 1",
            10 + i
        );
    }
}

#[test]
fn a_key_of_another_type_consumes_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("SET").arg("s").arg("v").query(&mut con).unwrap();
    let error = error_of(
        &mut con,
        &[
            b"RL.MHIT", b"2", b"k", b"s", b"LIMIT", b"5", b"1h", b"LIMIT", b"5", b"1h",
        ],
    );
    assert!(error.starts_with("WRONGTYPE"), "{error}");
    let exists: bool = redis::cmd("EXISTS").arg("k").query(&mut con).unwrap();
    assert!(!exists);
    let value: String = redis::cmd("GET").arg("s").query(&mut con).unwrap();
    assert_eq!(value, "v");
}

#[test]
fn every_key_is_declared_to_the_server() {
    let server = Server::start();
    let mut con = server.conn();
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg(&[
            "RL.MHIT", "3", "a", "b", "c", "LIMIT", "1", "1s", "LIMIT", "1", "1s", "LIMIT", "1",
            "1s",
        ])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["a", "b", "c"]);

    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "app", "on", ">pw", "~user:*", "+rl.mhit"])
        .query(&mut con)
        .unwrap();
    let mut app = server.conn();
    let _: () = redis::cmd("AUTH")
        .arg("app")
        .arg("pw")
        .query(&mut app)
        .unwrap();
    mhit(
        &mut app,
        &[
            "2", "user:1", "user:2", "LIMIT", "1", "1s", "LIMIT", "1", "1s",
        ],
    );
    let error = error_of(
        &mut app,
        &[
            b"RL.MHIT", b"2", b"user:1", b"other", b"LIMIT", b"1", b"1s", b"LIMIT", b"1", b"1s",
        ],
    );
    assert!(error.starts_with("NOPERM"), "{error}");
}

#[test]
fn keys_must_share_a_slot_in_a_cluster() {
    let server = Server::start_with(
        Options::default().config("cluster-enabled", "yes"),
        &scratch_dir("mhit-cluster"),
    );
    let mut con = server.conn();
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query(&mut con)
        .unwrap();
    assert!(wait_until(10, || {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
        info.contains("cluster_state:ok")
    }));
    let same_slot = mhit(&mut con, PER_SECOND_AND_HOUR);
    assert_eq!(same_slot[0], 1);
    let error = error_of(
        &mut con,
        &[
            b"RL.MHIT", b"2", b"a", b"b", b"LIMIT", b"1", b"1s", b"LIMIT", b"1", b"1s",
        ],
    );
    assert!(error.starts_with("CROSSSLOT"), "{error}");
}

#[test]
fn a_denial_answers_with_the_denying_limit_whole() {
    let server = Server::start();
    let mut con = server.conn();
    // Two per second and three per hour, each request costing 2.
    let args = [
        "2", "{t}:sec", "{t}:hour", "LIMIT", "2", "1s", "LIMIT", "3", "1h", "COST", "2",
    ];
    let first = mhit(&mut con, &args);
    assert_eq!((first[0], first[2], first[5]), (1, 0, 1), "{first:?}");
    // Both deny now; the hourly limit waits longer, so it decides, and the reply is its own:
    // 1 unit left (not the per-second limit's 0) and its reset, about an hour.
    let denied = mhit(&mut con, &args);
    assert_eq!((denied[0], denied[1], denied[2], denied[5]), (0, 3, 1, 2));
    let hour_pttl = pttl(&mut con, "{t}:hour");
    assert!(
        denied[4] + 1 >= hour_pttl && denied[4] > 3_000_000,
        "the hourly limit's reset ({hour_pttl} ms left): {denied:?}"
    );
    assert!(denied[3] > 1_000, "the hourly limit's wait: {denied:?}");
}
