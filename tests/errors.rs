//! Bad input: every case gets an error that names the argument, the server stays up, and no
//! data is touched. Run with `--nocapture` to see each input next to its reply.

mod common;

use common::*;

/// Sends `args`, expects an error starting with `expected`, prints the pair.
fn assert_error(con: &mut Connection, args: &[&[u8]], expected: &str) {
    let error = error_of(con, args);
    let shown: Vec<String> = args
        .iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect();
    println!("{} -> {error}", shown.join(" "));
    assert!(
        error.starts_with(expected),
        "{shown:?}: expected '{expected}...', got '{error}'"
    );
}

fn assert_alive(con: &mut Connection) {
    let pong: String = redis::cmd("PING").query(con).expect("the server is up");
    assert_eq!(pong, "PONG");
}

const NOT_COUNTS: &[&str] = &[
    "0",
    "-1",
    "abc",
    "18446744073709551616",
    "9223372036854775808",
    "1e3",
    " 5",
    "5 ",
    "+5",
    "05",
    "1.5",
    "",
];

#[test]
fn wrong_arity() {
    let server = Server::start();
    let mut con = server.conn();
    for args in [
        &[&b"RL.HIT"[..]][..],
        &[b"RL.HIT", b"k"],
        &[b"RL.HIT", b"k", b"10"],
    ] {
        assert_error(&mut con, args, "ERR wrong number of arguments");
    }
    if !server.has_internal_commands() {
        for args in [
            &[&b"RL.SETSTATE"[..], b"k"][..],
            &[b"RL.SETSTATE", b"k", b"x", b"y"],
        ] {
            assert_error(&mut con, args, "ERR wrong number of arguments");
        }
    }
    assert_alive(&mut con);
}

#[test]
fn limits_that_are_not_positive_64_bit_integers() {
    let server = Server::start();
    let mut con = server.conn();
    for bad in NOT_COUNTS {
        assert_error(
            &mut con,
            &[b"RL.HIT", b"k", bad.as_bytes(), b"60"],
            "ERR limit must be an integer from 1 to 9223372036854775807",
        );
    }
    assert_alive(&mut con);
}

#[test]
fn costs_that_are_not_positive_64_bit_integers() {
    let server = Server::start();
    let mut con = server.conn();
    for bad in NOT_COUNTS {
        assert_error(
            &mut con,
            &[b"RL.HIT", b"k", b"10", b"60", b"COST", bad.as_bytes()],
            "ERR COST must be an integer from 1 to 9223372036854775807",
        );
    }
    assert_alive(&mut con);
}

#[test]
fn windows_that_are_not_durations() {
    let server = Server::start();
    let mut con = server.conn();
    for bad in [
        "0",
        "-1",
        "10x",
        "ms",
        "99999999999999999999d",
        "36501d",
        "1.5s",
        " 10s",
        "0ms",
        "",
    ] {
        assert_error(
            &mut con,
            &[b"RL.HIT", b"k", b"10", bad.as_bytes()],
            "ERR window must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d",
        );
    }
    assert_alive(&mut con);
}

#[test]
fn option_mistakes() {
    let server = Server::start();
    let mut con = server.conn();
    assert_error(
        &mut con,
        &[b"RL.HIT", b"k", b"10", b"60", b"FOO", b"1"],
        "ERR unknown option 'FOO'",
    );
    assert_error(
        &mut con,
        &[b"RL.HIT", b"k", b"10", b"60", b"FOO"],
        "ERR unknown option 'FOO'",
    );
    assert_error(
        &mut con,
        &[b"RL.HIT", b"k", b"10", b"60", b"COST"],
        "ERR COST needs a value",
    );
    assert_error(
        &mut con,
        &[b"RL.HIT", b"k", b"10", b"60", b"COST", b"1", b"cost", b"2"],
        "ERR COST is given more than once",
    );
    assert_error(
        &mut con,
        &[b"RL.HIT", b"k", b"10", b"60", b"\r\n\x00junk", b"1"],
        "ERR unknown option '???junk'",
    );
    assert_alive(&mut con);
    let exists: i64 = redis::cmd("EXISTS").arg("k").query(&mut con).unwrap();
    assert_eq!(exists, 0, "no error creates a key");
}

#[test]
fn keys_of_other_types_get_wrongtype_and_stay_untouched() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("SET")
        .arg("s")
        .arg("value")
        .arg("PX")
        .arg(600_000)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg(&["a", "b"])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let before: Vec<Option<Vec<u8>>> = ["s", "l", "h"]
        .iter()
        .map(|k| dump(&mut con, k.as_bytes()))
        .collect();
    let expire_before = pexpiretime(&mut con, b"s");
    for key in ["s", "l", "h"] {
        assert_error(
            &mut con,
            &[b"RL.HIT", key.as_bytes(), b"10", b"60"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        );
        if !server.has_internal_commands() {
            assert_error(
                &mut con,
                &[b"RL.SETSTATE", key.as_bytes(), &valid_state()],
                "WRONGTYPE",
            );
        }
    }
    let after: Vec<Option<Vec<u8>>> = ["s", "l", "h"]
        .iter()
        .map(|k| dump(&mut con, k.as_bytes()))
        .collect();
    assert_eq!(before, after);
    assert_eq!(pexpiretime(&mut con, b"s"), expire_before);
    let value: String = redis::cmd("GET").arg("s").query(&mut con).unwrap();
    assert_eq!(value, "value");
    assert_alive(&mut con);
}

/// A sliding state in the documented byte layout: 60 s window, 1 hit, dated now.
fn valid_state() -> Vec<u8> {
    states::State::Sliding {
        window: 60_000_000,
        as_of: states::now_us(),
        into: 1,
        current: 1,
        previous: 0,
    }
    .bytes()
}

#[test]
fn setstate_validates_what_it_stores() {
    let server = Server::start();
    let mut con = server.conn();
    if server.has_internal_commands() {
        // Only the server itself may call it there (see tests/registration.rs).
        assert_error(
            &mut con,
            &[b"RL.SETSTATE", b"k", &valid_state()],
            "ERR unknown command",
        );
        return;
    }
    let mut bad_version = valid_state();
    bad_version[0] = 9;
    let mut zero_window = valid_state();
    zero_window[2..10].copy_from_slice(&0u64.to_le_bytes());
    let mut empty = valid_state();
    empty[26..34].copy_from_slice(&0u64.to_le_bytes());
    let short = &valid_state()[..20];
    for (bad, why) in [
        (&b""[..], "its length does not match its kind"),
        (b"garbage", "unknown format version 103"),
        (&bad_version, "unknown format version 9"),
        (
            &zero_window,
            "invalid state: the window is outside 1ms to 36500d",
        ),
        (&empty, "invalid state: it holds no usage"),
        (short, "its length does not match its kind"),
    ] {
        assert_error(
            &mut con,
            &[b"RL.SETSTATE", b"k", bad],
            &format!("ERR state is not a valid rate limiter state: {why}"),
        );
    }
    let ok: String = redis::cmd("RL.SETSTATE")
        .arg("k")
        .arg(valid_state())
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(hit(&mut con, b"k", 10, "60")[..3], [1, 10, 8]);
    assert_alive(&mut con);
}
