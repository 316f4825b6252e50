//! CL.THROTTLE, redis-cell's command, when the module is loaded with `cell-compat yes`.

mod common;

use common::*;

fn cell_server() -> Server {
    Server::start_with(
        Options::default().module_args(&["cell-compat", "yes"]),
        &scratch_dir("cell"),
    )
}

fn throttle(con: &mut Connection, args: &[&str]) -> [i64; 5] {
    let reply: Vec<i64> = redis::cmd("CL.THROTTLE").arg(args).query(con).unwrap();
    reply.try_into().unwrap()
}

#[test]
fn only_registered_with_cell_compat() {
    let server = Server::start();
    let mut con = server.conn();
    let error = error_of(&mut con, &[b"CL.THROTTLE", b"k", b"15", b"30", b"60"]);
    assert!(error.starts_with("ERR unknown command"), "{error}");
    let cell = cell_server();
    let mut con = cell.conn();
    let value = config_get(&mut con, "rl.cell-compat");
    assert_eq!(value, ["rl.cell-compat", "yes"]);
}

#[test]
fn cell_compat_as_a_config_line() {
    let server = Server::start_with(
        Options::default().config("rl.cell-compat", "yes"),
        &scratch_dir("cell-config"),
    );
    let mut con = server.conn();
    assert_eq!(throttle(&mut con, &["k", "1", "1", "1"])[..3], [0, 2, 1]);
}

#[test]
fn the_documented_reply() {
    let server = cell_server();
    let mut con = server.conn();
    assert_eq!(
        throttle(&mut con, &["user123", "15", "30", "60"]),
        [0, 16, 15, -1, 2]
    );
    assert_eq!(
        throttle(&mut con, &["user123", "15", "30", "60", "1"])[..4],
        [0, 16, 14, -1]
    );
    // The rest of the burst, then limited with a retry of one emission interval (2 s).
    assert_eq!(
        throttle(&mut con, &["user123", "15", "30", "60", "14"])[..3],
        [0, 16, 0]
    );
    assert_eq!(
        throttle(&mut con, &["user123", "15", "30", "60"]),
        [1, 16, 0, 2, 32]
    );
    // More than the whole capacity: limited, and never retryable.
    assert_eq!(
        throttle(&mut con, &["other", "15", "30", "60", "17"]),
        [1, 16, 16, -1, 0]
    );
}

#[test]
fn rates_above_a_thousand_per_second() {
    let server = cell_server();
    let mut con = server.conn();
    let first = throttle(&mut con, &["fast", "99999", "100000", "1", "100000"]);
    assert_eq!(first[..4], [0, 100_000, 0, -1]);
    assert_eq!(first[4], 1);
    let ttl: i64 = redis::cmd("PTTL").arg("fast").query(&mut con).unwrap();
    // The expiry is the reset instant rounded up to a millisecond; PTTL counts from the
    // current millisecond rounded down.
    assert!(ttl > 0 && ttl <= 1_001, "{ttl}");
}

#[test]
fn bad_input_is_refused_and_the_server_stays_up() {
    let server = cell_server();
    let mut con = server.conn();
    let _: () = redis::cmd("SET")
        .arg("s")
        .arg("not a number")
        .query(&mut con)
        .unwrap();
    // One input per error; the parser's own tests hold every input it refuses.
    let cases: &[(&[&str], &str)] = &[
        (
            &["CL.THROTTLE", "k", "15", "30"],
            "ERR wrong number of arguments",
        ),
        (
            &["CL.THROTTLE", "k", "15", "30", "60", "1", "2"],
            "ERR wrong number of arguments",
        ),
        (
            &["CL.THROTTLE", "k", "-1", "30", "60"],
            "ERR max_burst must be an integer from 0",
        ),
        (
            &["CL.THROTTLE", "k", "15", "0", "60"],
            "ERR count must be an integer from 1",
        ),
        (
            &["CL.THROTTLE", "k", "15", "30", "0"],
            "ERR period must be a number of seconds",
        ),
        (
            &["CL.THROTTLE", "k", "15", "30", "9223372036854775807"],
            "ERR period",
        ),
        (
            &["CL.THROTTLE", "k", "15", "30", "60", "-1"],
            "ERR quantity must be an integer from 0",
        ),
        (
            &["CL.THROTTLE", "k", "9223372036854775806", "1", "3153600000"],
            "ERR max_burst is too large",
        ),
        (&["CL.THROTTLE", "s", "15", "30", "60"], "WRONGTYPE"),
    ];
    for (args, expected) in cases {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let error = error_of(&mut con, &args);
        println!("{args:?} -> {error}");
        assert!(error.starts_with(expected), "{args:?}: {error}");
    }
    let value: String = redis::cmd("GET").arg("s").query(&mut con).unwrap();
    assert_eq!(value, "not a number");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn quantity_zero_checks_without_consuming() {
    let server = cell_server();
    let mut con = server.conn();
    throttle(&mut con, &["k", "4", "10", "60", "3"]);
    let before = dump(&mut con, b"k");
    let check = throttle(&mut con, &["k", "4", "10", "60", "0"]);
    assert_eq!(check[..4], [0, 5, 2, -1]);
    assert_eq!(dump(&mut con, b"k"), before);
}
