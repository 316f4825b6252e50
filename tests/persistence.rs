//! The state survives whatever Redis does with data: DEBUG RELOAD, restarts from RDB and from
//! AOF (with and without the RDB preamble), DUMP/RESTORE and COPY.

mod common;

use common::*;

/// Keys in several states: fresh, part used, exhausted, with costs, over several windows.
fn make_traffic(con: &mut Connection) {
    for i in 0..5 {
        hit(con, b"full", 5, "60");
        hit_with(
            con,
            b"costly",
            100,
            "1h",
            &["COST", &(i * 7 + 1).to_string()],
        );
    }
    hit(con, b"full", 5, "60"); // denied
    hit(con, b"once", 10, "10m");
    hit(con, b"daily", 1000, "1d");
    hit_with(con, b"fixed", 10, "10m", &["ALGO", "FIXED", "COST", "3"]);
    hit_with(
        con,
        b"bucket",
        3,
        "1s",
        &["ALGO", "GCRA", "BURST", "5000", "COST", "7"],
    );
}

const KEYS: &[&[u8]] = &[b"full", b"costly", b"once", b"daily", b"fixed", b"bucket"];

/// Value bytes and expiry of every key.
fn snapshot(con: &mut Connection) -> Vec<(Option<Vec<u8>>, i64)> {
    KEYS.iter()
        .map(|k| (dump(con, k), pexpiretime(con, k)))
        .collect()
}

fn assert_all_expire(snapshot: &[(Option<Vec<u8>>, i64)]) {
    for (i, (value, expire_at)) in snapshot.iter().enumerate() {
        assert!(value.is_some(), "key {i} is missing");
        assert!(*expire_at > 0, "key {i} has no expiry");
    }
}

/// After the round trip the limiter carries on from where it was.
fn assert_carries_on(con: &mut Connection) {
    assert_eq!(hit(con, b"full", 5, "60")[..3], [0, 5, 0]);
    assert_eq!(hit(con, b"once", 10, "10m")[..3], [1, 10, 8]);
}

#[test]
fn debug_reload_keeps_state_and_digest() {
    let server = Server::start();
    let mut con = server.conn();
    make_traffic(&mut con);
    let before = snapshot(&mut con);
    let digest: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_eq!(snapshot(&mut con), before);
    let digest_after: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    assert_eq!(digest_after, digest);
    assert_ne!(digest, "0".repeat(40), "the state takes part in the digest");
    assert_all_expire(&before);
    assert_carries_on(&mut con);
}

#[test]
fn restart_from_rdb() {
    let dir = scratch_dir("rdb");
    let server = Server::start_with(Options::default(), &dir);
    let mut con = server.conn();
    make_traffic(&mut con);
    let before = snapshot(&mut con);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(con);
    let server = server.restart();
    let mut con = server.conn();
    assert_eq!(snapshot(&mut con), before);
    assert_all_expire(&before);
    assert_carries_on(&mut con);
}

fn restart_from_aof(preamble: &str) {
    let dir = scratch_dir(&format!("aof-{preamble}"));
    let options = Options::default()
        .config("appendonly", "yes")
        .config("appendfsync", "always")
        .config("aof-use-rdb-preamble", preamble);
    let server = Server::start_with(options, &dir);
    let mut con = server.conn();
    make_traffic(&mut con);
    // Rewrite the AOF (base file), then append more effects after it (incremental file).
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert!(wait_until(20, || {
        info_field(&mut con, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut con, "persistence", "aof_rewrite_scheduled") == "0"
    }));
    hit(&mut con, b"once", 10, "10m");
    hit(&mut con, b"after-rewrite", 3, "60");
    let before = snapshot(&mut con);
    let late = (
        dump(&mut con, b"after-rewrite"),
        pexpiretime(&mut con, b"after-rewrite"),
    );

    let aof = aof_contents(&dir);
    assert!(contains(&aof, b"RL.SETSTATE"), "effects are logged");
    assert!(!contains(&aof, b"RL.HIT"), "commands are not logged");

    drop(con);
    let server = server.restart();
    let mut con = server.conn();
    assert_eq!(snapshot(&mut con), before);
    assert_eq!(
        (
            dump(&mut con, b"after-rewrite"),
            pexpiretime(&mut con, b"after-rewrite")
        ),
        late
    );
    assert_all_expire(&before);
    assert_eq!(hit(&mut con, b"full", 5, "60")[..3], [0, 5, 0]);
    assert_eq!(hit(&mut con, b"once", 10, "10m")[..3], [1, 10, 7]);
}

#[test]
fn restart_from_aof_with_rdb_preamble() {
    restart_from_aof("yes");
}

#[test]
fn restart_from_aof_without_rdb_preamble() {
    restart_from_aof("no");
}

#[test]
fn dump_restore_and_copy_carry_the_state() {
    let server = Server::start();
    let mut con = server.conn();
    make_traffic(&mut con);
    let payload = dump(&mut con, b"once").expect("a value");
    let _: () = redis::cmd("RESTORE")
        .arg("restored")
        .arg(0)
        .arg(&payload)
        .query(&mut con)
        .unwrap();
    assert_eq!(dump(&mut con, b"restored"), Some(payload.clone()));
    assert_eq!(hit(&mut con, b"restored", 10, "10m")[..3], [1, 10, 8]);

    let copied: bool = redis::cmd("COPY")
        .arg("full")
        .arg("copied")
        .query(&mut con)
        .unwrap();
    assert!(copied);
    assert_eq!(dump(&mut con, b"copied"), dump(&mut con, b"full"));
    assert_eq!(
        pexpiretime(&mut con, b"copied"),
        pexpiretime(&mut con, b"full")
    );
    // The copy is independent of its source.
    let _: () = redis::cmd("DEL").arg("full").query(&mut con).unwrap();
    assert_eq!(hit(&mut con, b"copied", 5, "60")[..3], [0, 5, 0]);
    assert_eq!(hit(&mut con, b"full", 5, "60")[..3], [1, 5, 4]);

    let mut corrupt = payload.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let error = redis::cmd("RESTORE")
        .arg("bad")
        .arg(0)
        .arg(&corrupt)
        .query::<()>(&mut con)
        .expect_err("a corrupt payload is refused");
    assert!(error_text(&error).starts_with("ERR"), "{error:?}");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn memory_usage_counts_the_state() {
    let server = Server::start();
    let mut con = server.conn();
    hit(&mut con, b"m", 10, "60");
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("m")
        .query(&mut con)
        .unwrap();
    assert!(usage > 0 && usage < 200, "MEMORY USAGE {usage}");
}

#[test]
fn an_aof_switched_on_at_run_time_receives_later_changes() {
    let dir = scratch_dir("aof-late");
    // Every write reaches the file before the kill below: with the default fsync policy the
    // server may hold writes back while the first fsync runs.
    let server = Server::start_with(Options::default().config("appendfsync", "always"), &dir);
    let mut con = server.conn();
    hit(&mut con, b"before", 5, "1h");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query(&mut con)
        .unwrap();
    assert!(wait_until(20, || {
        info_field(&mut con, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut con, "persistence", "aof_rewrite_scheduled") == "0"
            && info_field(&mut con, "persistence", "aof_enabled") == "1"
    }));
    make_traffic(&mut con);
    let before = snapshot(&mut con);
    let first = dump(&mut con, b"before");
    drop(con);
    let _ = server.kill();
    let server = Server::start_with(
        Options::default()
            .config("appendonly", "yes")
            .config("appendfsync", "always"),
        &dir,
    );
    let mut con = server.conn();
    assert_eq!(snapshot(&mut con), before);
    assert_eq!(dump(&mut con, b"before"), first);
}
