//! Replicas receive effects, not commands: a replica's data is the primary's, byte for byte,
//! even when the two clocks disagree by an hour; and a denied hit sends nothing.

mod common;

use common::*;

fn primary() -> Server {
    Server::start_with(
        Options::default()
            .config("repl-diskless-sync-delay", "0")
            .config("repl-ping-replica-period", "60")
            .module_args(&["cell-compat", "yes"]),
        &scratch_dir("primary"),
    )
}

/// A primary, and a replica of it whose clock is shifted by `shift_seconds`.
fn primary_and_replica(shift_seconds: i64) -> (Server, Server) {
    let primary = primary();
    let mut replica_options = Options::default();
    if shift_seconds != 0 {
        replica_options.env = vec![
            ("LD_PRELOAD".into(), clock::library().display().to_string()),
            ("CLOCKSHIFT_SECONDS".into(), shift_seconds.to_string()),
        ];
    }
    let replica = Server::start_with(replica_options, &scratch_dir("replica"));
    attach_replica(&replica, &primary);
    (primary, replica)
}

/// Allowed and denied hits, costs, a changed window, a transaction, a script, a reset.
fn traffic(con: &mut Connection) {
    for i in 0..20 {
        hit(con, format!("user:{}", i % 4).as_bytes(), 5, "60");
        hit_with(
            con,
            b"bytes",
            1000,
            "1h",
            &["COST", &(i * 13 + 1).to_string()],
        );
    }
    hit(con, b"moved", 10, "1h");
    hit(con, b"moved", 10, "1s"); // a new window migrates the key
    let mut tx = redis::pipe();
    tx.atomic();
    for _ in 0..7 {
        tx.cmd("RL.HIT").arg("tx").arg(5).arg("10m");
    }
    let _: Vec<Vec<i64>> = tx.query(con).unwrap();
    let _: Vec<i64> = redis::cmd("EVAL")
        .arg("return redis.call('RL.HIT', KEYS[1], 3, '1d')")
        .arg(1)
        .arg("scripted")
        .query(con)
        .unwrap();
    hit(con, b"reset", 2, "60");
    let _: () = redis::cmd("DEL").arg("reset").query(con).unwrap();
}

const KEYS: &[&str] = &[
    "user:0", "user:1", "user:2", "user:3", "bytes", "fixed", "bucket", "{m}:sec", "{m}:day",
    "cell", "moved", "tx", "scripted", "reset",
];

fn digest(con: &mut Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(con).unwrap()
}

#[test]
fn a_replica_an_hour_behind_holds_the_same_bytes() {
    let (primary, replica) = primary_and_replica(-3600);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    traffic(&mut p);
    settle(&mut p);
    for key in KEYS {
        let key = key.as_bytes();
        assert_eq!(
            dump(&mut r, key),
            dump(&mut p, key),
            "{}",
            String::from_utf8_lossy(key)
        );
        assert_eq!(pexpiretime(&mut r, key), pexpiretime(&mut p, key));
    }
    assert_eq!(digest(&mut r), digest(&mut p));
}

#[test]
fn a_replica_an_hour_ahead_holds_the_same_bytes() {
    let (primary, replica) = primary_and_replica(3600);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    traffic(&mut p);
    settle(&mut p);
    // The replica's clock says every key expired already, so reads there see nothing; the
    // data set itself (values and expiry times) is the primary's.
    assert_eq!(digest(&mut r), digest(&mut p));
}

#[test]
fn replicas_receive_effects_and_nothing_for_a_denied_hit() {
    let (primary, replica) = primary_and_replica(0);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    hit(&mut p, b"once", 1, "60");
    settle(&mut p);
    let offset = info_field(&mut p, "replication", "master_repl_offset");
    assert_eq!(hit(&mut p, b"once", 1, "60")[0], 0);
    assert_eq!(
        info_field(&mut p, "replication", "master_repl_offset"),
        offset,
        "a denied hit propagates nothing"
    );
    hit(&mut p, b"twice", 1, "60");
    assert_ne!(
        info_field(&mut p, "replication", "master_repl_offset"),
        offset
    );
    settle(&mut p);
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut r)
        .unwrap();
    assert!(stats.contains("cmdstat_rl.setstate:calls=2"), "{stats}");
    assert!(!stats.contains("cmdstat_rl.hit"), "{stats}");
}

#[test]
fn a_replica_refuses_rl_hit_as_a_write() {
    // Replicas refuse writes: RL.HIT is a write command.
    let (_primary, replica) = primary_and_replica(0);
    let mut r = replica.conn();
    let error = redis::cmd("RL.HIT")
        .arg("k")
        .arg(1)
        .arg("60")
        .query::<Vec<i64>>(&mut r)
        .expect_err("replicas are read-only");
    assert!(error_text(&error).starts_with("READONLY"), "{error:?}");
}

fn assert_same_data(p: &mut Connection, r: &mut Connection) {
    for key in KEYS {
        let key = key.as_bytes();
        assert_eq!(
            dump(r, key),
            dump(p, key),
            "{}",
            String::from_utf8_lossy(key)
        );
    }
    assert_eq!(digest(r), digest(p));
}

#[test]
fn a_replica_attached_later_gets_earlier_and_later_changes() {
    // The primary runs alone first: with nothing listening it skips building effects. The
    // full sync that attaching starts must carry everything from then on.
    let primary = primary();
    let mut p = primary.conn();
    traffic(&mut p);
    assert_eq!(info_field(&mut p, "rl", "rl_effects_sent"), "0");
    assert_ne!(info_field(&mut p, "rl", "rl_effects_unheard"), "0");
    let replica = Server::start();
    attach_replica(&replica, &primary);
    traffic(&mut p);
    settle(&mut p);
    assert_ne!(info_field(&mut p, "rl", "rl_effects_sent"), "0");
    assert_same_data(&mut p, &mut replica.conn());
}

#[test]
fn a_replica_that_reconnects_catches_up_from_the_backlog() {
    let (primary, replica) = primary_and_replica(0);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    traffic(&mut p);
    settle(&mut p);
    // The replica goes away; the changes meanwhile wait in the primary's backlog.
    let partial_before: i64 = info_field(&mut p, "stats", "sync_partial_ok")
        .parse()
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut p)
        .unwrap();
    traffic(&mut p);
    assert!(wait_until(30, || info_field(
        &mut r,
        "replication",
        "master_link_status"
    ) == "up"));
    settle(&mut p);
    let partial_after: i64 = info_field(&mut p, "stats", "sync_partial_ok")
        .parse()
        .unwrap();
    assert_eq!(
        partial_after,
        partial_before + 1,
        "the replica resumed from the backlog"
    );
    assert_same_data(&mut p, &mut r);
}
