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

#[test]
fn wrong_arity() {
    let server = Server::start();
    let mut con = server.conn();
    for args in [
        &[&b"RL.HIT"[..]][..],
        &[b"RL.HIT", b"k"],
        &[b"RL.HIT", b"k", b"10"],
        &[b"RL.MHIT", b"1", b"k", b"LIMIT"],
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

/// One input per error the argument parser answers, through the server: what the client
/// reads. Every input the parser refuses, and why, is in the parser's own tests
/// (core/src/parse/tests.rs).
#[test]
fn each_argument_error_reaches_the_client() {
    let server = Server::start();
    let mut con = server.conn();
    let hit = |rest: &[&'static [u8]]| -> Vec<&'static [u8]> {
        let mut args: Vec<&[u8]> = vec![b"RL.HIT", b"k"];
        args.extend_from_slice(rest);
        args
    };
    for (args, expected) in [
        (hit(&[b"05", b"60"]), "ERR limit must be an integer from 1 to 9223372036854775807"),
        (hit(&[b"10", b"60", b"COST", b"0"]), "ERR COST must be an integer from 1 to 9223372036854775807"),
        (hit(&[b"10", b"36501d"]), "ERR window must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to 36500d)"),
        (hit(&[b"10", b"60", b"ALGO", b"cell"]), "ERR ALGO must be one of SLIDING, FIXED, TOKEN, LEAKY, GCRA or LOG"),
        (hit(&[b"10", b"60", b"BURST", b"5"]), "ERR BURST applies to ALGO TOKEN, LEAKY and GCRA only"),
        (hit(&[b"10", b"60", b"ALGO", b"GCRA", b"BURST", b"0"]), "ERR BURST must be an integer from 1 to 9223372036854775807"),
        (hit(&[b"1", b"36500d", b"ALGO", b"GCRA", b"BURST", b"2"]), "ERR BURST is too large for this rate: BURST × window / limit must be at most 36500d"),
        (hit(&[b"10", b"60", b"FOO", b"1"]), "ERR unknown option 'FOO', expected COST, ALGO or BURST"),
        (hit(&[b"10", b"60", b"\r\n\x00junk", b"1"]), "ERR unknown option '???junk'"),
        (hit(&[b"10", b"60", b"COST"]), "ERR COST needs a value"),
        (hit(&[b"10", b"60", b"COST", b"1", b"cost", b"2"]), "ERR COST is given more than once"),
        (vec![b"RL.MHIT", b"9", b"k", b"LIMIT", b"1", b"1s"], "ERR numkeys must be an integer from 1 to 64, and no more than the keys given"),
        (vec![b"RL.MHIT", b"2", b"a", b"b", b"LIMIT", b"1", b"1s"], "ERR RL.MHIT needs one LIMIT clause per key: 2 keys, 1 LIMIT clauses"),
        (vec![b"RL.MHIT", b"2", b"a", b"a", b"LIMIT", b"1", b"1s", b"LIMIT", b"1", b"1s"], "ERR RL.MHIT keys must be distinct"),
        (vec![b"RL.MHIT", b"1", b"a", b"ALGO", b"GCRA", b"LIMIT", b"1", b"1s"], "ERR ALGO must follow the LIMIT clause it applies to"),
    ] {
        assert_error(&mut con, &args, expected);
    }
    assert_alive(&mut con);
    let keys: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(keys, 0, "no error creates a key");
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
