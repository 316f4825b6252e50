//! Concurrency leases on a live server: RL.ACQUIRE up to the limit then a wait that is exact,
//! leases and keys expiring by themselves, RL.RELEASE and RL.RENEW, and the leases surviving
//! whatever Redis does with data (DEBUG RELOAD, RDB, AOF, replicas, failover) without a
//! released lease ever coming back.

mod common;

use std::time::Duration;

use common::clock::Clock;
use common::*;

/// RL.ACQUIRE's answer: the five integers, and the lease id (None when denied).
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    fields: [i64; 5],
    id: Option<String>,
}

fn acquire(con: &mut Connection, key: &str, limit: u64, lease: &str, options: &[&str]) -> Answer {
    let reply: Vec<Value> = redis::cmd("RL.ACQUIRE")
        .arg(key)
        .arg(limit)
        .arg(lease)
        .arg(options)
        .query(con)
        .expect("RL.ACQUIRE");
    let [fields @ .., last] = reply.as_slice() else {
        panic!("an empty reply")
    };
    let fields: Vec<i64> = fields
        .iter()
        .map(|v| match v {
            Value::Int(n) => *n,
            other => panic!("an integer, not {other:?}"),
        })
        .collect();
    let id = match last {
        Value::BulkString(bytes) => Some(String::from_utf8(bytes.clone()).expect("an id")),
        Value::Nil => None,
        other => panic!("a bulk string or nil, not {other:?}"),
    };
    Answer {
        fields: fields.try_into().expect("five integers"),
        id,
    }
}

fn release(con: &mut Connection, key: &str, id: &str) -> i64 {
    redis::cmd("RL.RELEASE")
        .arg(key)
        .arg(id)
        .query(con)
        .expect("RL.RELEASE")
}

fn renew(con: &mut Connection, key: &str, id: &str, lease: &str) -> i64 {
    redis::cmd("RL.RENEW")
        .arg(key)
        .arg(id)
        .arg(lease)
        .query(con)
        .expect("RL.RENEW")
}

fn exists(con: &mut Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(con).unwrap() == 1
}

fn digest(con: &mut Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(con).unwrap()
}

/// A server on a clock frozen at a whole second, and a connection that sees it.
struct Frozen {
    _server: Server,
    clock: Clock,
    con: Connection,
    /// The instant the clock was frozen at, in ms.
    start: i64,
}

impl Frozen {
    fn start(label: &str) -> Frozen {
        let dir = scratch_dir(label);
        let mut clock = Clock::new(&dir);
        let server = Server::start_with(clock.options(Options::default()), &dir);
        let mut con = server.conn();
        let start = states::now_us() / 1_000_000 * 1_000_000;
        clock.freeze(start);
        clock.wait_seen(&mut con);
        Frozen {
            _server: server,
            clock,
            con,
            start: (start / 1000) as i64,
        }
    }

    /// Moves the clock by `ms` and waits until the server reads it.
    fn advance(&mut self, ms: i64) {
        self.clock.advance(ms * 1000);
        self.clock.wait_seen(&mut self.con);
    }

    fn acquire(&mut self, key: &str, limit: u64, lease: &str, options: &[&str]) -> Answer {
        acquire(&mut self.con, key, limit, lease, options)
    }

    fn pttl(&mut self, key: &str) -> i64 {
        pttl(&mut self.con, key)
    }

    /// PEXPIRETIME, in ms after the instant the clock was frozen at.
    fn expires_after_start(&mut self, key: &str) -> i64 {
        pexpiretime(&mut self.con, key.as_bytes()) - self.start
    }
}

#[test]
fn up_to_the_limit_then_denied_until_the_first_lease_expires() {
    let mut s = Frozen::start("acquire");
    for remaining in [2, 1, 0] {
        let answer = s.acquire("jobs", 3, "10s", &[]);
        assert_eq!(answer.fields, [1, 3, remaining, 0, 10_000]);
        let id = answer.id.expect("an id");
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        s.advance(1_000);
    }
    // The three leases expire 10, 11 and 12 s after the first; now is 3 s after it.
    let denied = s.acquire("jobs", 3, "10s", &[]);
    assert_eq!(
        denied,
        Answer {
            fields: [0, 3, 0, 7_000, 9_000],
            id: None
        }
    );
    assert_eq!(s.pttl("jobs"), 9_000, "the key expires with the last lease");
    let two = s.acquire("jobs", 3, "10s", &["COST", "2"]);
    assert_eq!(two.fields, [0, 3, 0, 8_000, 9_000]);
    let never = s.acquire("jobs", 3, "10s", &["COST", "4"]);
    assert_eq!(never.fields, [0, 3, 0, -1, 9_000]);
    // 1 ms before the first lease expires, then at that instant.
    s.advance(6_999);
    assert_eq!(s.acquire("jobs", 3, "10s", &[]).fields, [0, 3, 0, 1, 2_001]);
    s.advance(1);
    let admitted = s.acquire("jobs", 3, "10s", &[]);
    assert_eq!(admitted.fields, [1, 3, 0, 0, 10_000]);
    assert!(admitted.id.is_some());
}

#[test]
fn leases_expire_by_themselves_and_the_key_with_the_last() {
    let mut s = Frozen::start("expire");
    s.acquire("k", 2, "5s", &["ID", "short"]);
    s.advance(1_000);
    let long = s.acquire("k", 2, "10s", &["ID", "long"]);
    assert_eq!(long.fields, [1, 2, 0, 0, 10_000]);
    assert_eq!(s.expires_after_start("k"), 11_000);
    // 5 s in, the short lease has gone: one unit free, two wait for the long one.
    s.advance(4_000);
    let two = s.acquire("k", 2, "1s", &["COST", "2"]);
    assert_eq!(two.fields, [0, 2, 1, 6_000, 6_000]);
    assert_eq!(release(&mut s.con, "k", "short"), 0, "it expired");
    // At its expiry instant the long lease frees its unit; a millisecond later the key is gone.
    s.advance(6_000);
    assert_eq!(renew(&mut s.con, "k", "long", "10s"), 0);
    s.advance(1);
    assert!(!exists(&mut s.con, "k"));
}

#[test]
fn renew_extends_a_held_lease() {
    let mut s = Frozen::start("renew");
    s.acquire("k", 1, "5s", &["ID", "job"]);
    s.advance(4_000);
    assert_eq!(renew(&mut s.con, "k", "job", "5s"), 1);
    assert_eq!(s.pttl("k"), 5_000);
    assert_eq!(s.expires_after_start("k"), 9_000);
    assert_eq!(renew(&mut s.con, "k", "someone-else", "5s"), 0);
    s.advance(4_999);
    assert_eq!(s.acquire("k", 1, "5s", &[]).fields, [0, 1, 0, 1, 1]);
    s.advance(1);
    assert_eq!(
        renew(&mut s.con, "k", "job", "5s"),
        0,
        "too late: it expired"
    );
    assert_eq!(s.acquire("k", 1, "5s", &[]).fields[0], 1);
}

#[test]
fn release_frees_at_once_and_twice_is_harmless() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        acquire(&mut con, "k", 1, "1h", &["ID", "job-1"])
            .id
            .as_deref(),
        Some("job-1")
    );
    assert_eq!(acquire(&mut con, "k", 1, "1h", &[]).fields[0], 0);
    assert_eq!(release(&mut con, "k", "job-1"), 1);
    assert!(
        !exists(&mut con, "k"),
        "the last lease released deletes the key"
    );
    assert_eq!(release(&mut con, "k", "job-1"), 0);
    assert_eq!(release(&mut con, "nothing-here", "job-1"), 0);
    let next = acquire(&mut con, "k", 1, "1h", &[]);
    assert_eq!(next.fields[..3], [1, 1, 0]);
    assert_eq!(
        release(&mut con, "k", "job-1"),
        0,
        "another holder's lease stays"
    );
    assert_eq!(acquire(&mut con, "k", 1, "1h", &[]).fields[0], 0);
    assert_eq!(release(&mut con, "k", &next.id.unwrap()), 1);
}

#[test]
fn acquiring_a_held_id_again_is_the_same_lease() {
    let server = Server::start();
    let mut con = server.conn();
    let first = acquire(&mut con, "k", 2, "1h", &["ID", "job-7"]);
    assert_eq!(first.fields[..3], [1, 2, 1]);
    // A retry whose answer was lost: admitted again, still one unit held.
    let again = acquire(&mut con, "k", 2, "1h", &["ID", "job-7"]);
    assert_eq!(again.fields[..3], [1, 2, 1]);
    assert_eq!(again.id.as_deref(), Some("job-7"));
    // Held for more units: judged without its old lease, kept as it was when denied.
    acquire(&mut con, "k", 2, "1h", &["ID", "other"]);
    let more = acquire(&mut con, "k", 2, "1h", &["ID", "job-7", "COST", "2"]);
    assert_eq!(more.fields[..3], [0, 2, 0]);
    assert_eq!(release(&mut con, "k", "job-7"), 1);
    assert_eq!(release(&mut con, "k", "other"), 1);
}

/// Keys holding leases in several shapes: full, partly used, costs, a given id, a renewal,
/// and one released.
fn make_leases(con: &mut Connection) {
    for _ in 0..3 {
        acquire(con, "full", 3, "1h", &[]);
    }
    acquire(con, "part", 10, "10m", &["COST", "4", "ID", "big"]);
    acquire(con, "part", 10, "1d", &["ID", "small"]);
    acquire(con, "renewed", 5, "1m", &["ID", "job"]);
    renew(con, "renewed", "job", "2h");
    acquire(con, "released", 2, "1h", &["ID", "gone"]);
    acquire(con, "released", 2, "1h", &["ID", "kept"]);
    release(con, "released", "gone");
}

const KEYS: &[&str] = &["full", "part", "renewed", "released"];

/// Value bytes and expiry of every key.
fn snapshot(con: &mut Connection) -> Vec<(Option<Vec<u8>>, i64)> {
    KEYS.iter()
        .map(|k| (dump(con, k.as_bytes()), pexpiretime(con, k.as_bytes())))
        .collect()
}

/// After a round trip the leases are there, and the released one is not.
fn assert_carries_on(con: &mut Connection, snapshot: &[(Option<Vec<u8>>, i64)]) {
    for (key, (value, expire_at)) in KEYS.iter().zip(snapshot) {
        assert!(value.is_some() && *expire_at > 0, "{key}");
    }
    assert_eq!(acquire(con, "full", 3, "1h", &[]).fields[..3], [0, 3, 0]);
    assert_eq!(acquire(con, "part", 10, "1h", &[]).fields[..3], [1, 10, 4]);
    assert_eq!(
        release(con, "released", "gone"),
        0,
        "a released lease stays released"
    );
    assert_eq!(
        acquire(con, "released", 2, "1h", &[]).fields[..3],
        [1, 2, 0]
    );
    assert_eq!(renew(con, "renewed", "job", "1h"), 1);
}

#[test]
fn debug_reload_keeps_the_leases_and_the_digest() {
    let server = Server::start();
    let mut con = server.conn();
    make_leases(&mut con);
    let before = snapshot(&mut con);
    let digest_before = digest(&mut con);
    assert_ne!(
        digest_before,
        "0".repeat(40),
        "leases take part in the digest"
    );
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_eq!(snapshot(&mut con), before);
    assert_eq!(digest(&mut con), digest_before);
    let kind: String = redis::cmd("TYPE").arg("full").query(&mut con).unwrap();
    assert_eq!(kind, "rl-leases");
    assert_carries_on(&mut con, &before);
}

#[test]
fn restart_from_rdb() {
    let server = Server::start_with(Options::default(), &scratch_dir("leases-rdb"));
    let mut con = server.conn();
    make_leases(&mut con);
    let before = snapshot(&mut con);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(con);
    let server = server.restart();
    let mut con = server.conn();
    assert_eq!(snapshot(&mut con), before);
    assert_carries_on(&mut con, &before);
}

fn restart_from_aof(preamble: &str) {
    let dir = scratch_dir(&format!("leases-aof-{preamble}"));
    let options = Options::default()
        .config("appendonly", "yes")
        .config("appendfsync", "always")
        .config("aof-use-rdb-preamble", preamble);
    let server = Server::start_with(options, &dir);
    let mut con = server.conn();
    acquire(&mut con, "full", 3, "1h", &[]);
    acquire(&mut con, "released", 2, "1h", &["ID", "gone"]);
    // Rewrite the AOF (its base), then change keys after it (the incremental file): the rest
    // of the traffic, a release, and a key deleted by releasing its last lease.
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert!(wait_until(20, || {
        info_field(&mut con, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut con, "persistence", "aof_rewrite_scheduled") == "0"
    }));
    make_leases(&mut con);
    acquire(&mut con, "emptied", 1, "1h", &["ID", "only"]);
    release(&mut con, "emptied", "only");
    let before = snapshot(&mut con);

    let aof = aof_contents(&dir);
    assert!(contains(&aof, b"RL.SETLEASES"), "effects are logged");
    for command in [&b"RL.ACQUIRE"[..], b"RL.RELEASE", b"RL.RENEW"] {
        assert!(!contains(&aof, command), "commands are not logged");
    }

    drop(con);
    let server = server.restart();
    let mut con = server.conn();
    assert_eq!(snapshot(&mut con), before);
    assert!(!exists(&mut con, "emptied"));
    assert_carries_on(&mut con, &before);
}

#[test]
fn restart_from_aof_with_rdb_preamble() {
    restart_from_aof("yes");
}

#[test]
fn restart_from_aof_without_rdb_preamble() {
    restart_from_aof("no");
}

fn primary() -> Server {
    Server::start_with(
        Options::default()
            .config("repl-diskless-sync-delay", "0")
            .config("repl-ping-replica-period", "60"),
        &scratch_dir("leases-primary"),
    )
}

#[test]
fn a_replica_holds_the_primarys_bytes_and_the_leases_after_failover() {
    // The replica's clock is an hour behind: it applies effects, whatever its clock says.
    let primary = primary();
    let replica_options = Options {
        env: vec![
            ("LD_PRELOAD".into(), clock::library().display().to_string()),
            ("CLOCKSHIFT_SECONDS".into(), "-3600".into()),
        ],
        ..Options::default()
    };
    let replica = Server::start_with(replica_options, &scratch_dir("leases-replica"));
    attach_replica(&replica, &primary);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    make_leases(&mut p);
    settle(&mut p);
    // A denied request sends nothing.
    let offset = info_field(&mut p, "replication", "master_repl_offset");
    assert_eq!(acquire(&mut p, "full", 3, "1h", &[]).fields[0], 0);
    assert_eq!(release(&mut p, "full", "nobody"), 0);
    assert_eq!(renew(&mut p, "full", "nobody", "1h"), 0);
    assert_eq!(
        info_field(&mut p, "replication", "master_repl_offset"),
        offset
    );
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
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut r)
        .unwrap();
    assert!(stats.contains("cmdstat_rl.setleases"), "{stats}");
    assert!(!stats.contains("cmdstat_rl.acquire"), "{stats}");

    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut r)
        .unwrap();
    // The promoted replica's clock is an hour behind the leases' date: they hold as they did.
    let full = acquire(&mut r, "full", 3, "1h", &[]);
    assert_eq!(full.fields[..3], [0, 3, 0]);
    assert!(
        (3_590_000..=3_600_000).contains(&full.fields[3]),
        "{full:?}"
    );
    assert_eq!(release(&mut r, "released", "gone"), 0, "not resurrected");
    assert_eq!(release(&mut r, "released", "kept"), 1);
    assert_eq!(release(&mut r, "part", "big"), 1);
    assert_eq!(
        acquire(&mut r, "part", 10, "1h", &[]).fields[..3],
        [1, 10, 8]
    );
}

#[test]
fn a_release_reaches_the_replica() {
    let primary = primary();
    let replica = Server::start();
    attach_replica(&replica, &primary);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    acquire(&mut p, "k", 2, "1h", &["ID", "a"]);
    acquire(&mut p, "k", 2, "1h", &["ID", "b"]);
    settle(&mut p);
    let both = dump(&mut r, b"k").unwrap();
    release(&mut p, "k", "a");
    settle(&mut p);
    assert_ne!(dump(&mut r, b"k").unwrap(), both);
    assert_eq!(dump(&mut r, b"k"), dump(&mut p, b"k"));
    release(&mut p, "k", "b");
    settle(&mut p);
    assert!(
        !exists(&mut r, "k"),
        "the last release deletes the key on the replica too"
    );
}

#[test]
fn each_kind_of_key_refuses_the_other_kinds_commands() {
    let server = Server::start();
    let mut con = server.conn();
    acquire(&mut con, "leases", 2, "1h", &["ID", "a"]);
    hit(&mut con, b"limit", 5, "60");
    let _: () = redis::cmd("SET")
        .arg("string")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let before = (dump(&mut con, b"leases"), dump(&mut con, b"limit"));
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for args in [
        &[&b"RL.HIT"[..], b"leases", b"5", b"60"][..],
        &[b"RL.PEEK", b"leases", b"5", b"60"],
        &[b"RL.MHIT", b"1", b"leases", b"LIMIT", b"5", b"60"],
        &[b"RL.ACQUIRE", b"limit", b"2", b"1h"],
        &[b"RL.RELEASE", b"limit", b"a"],
        &[b"RL.RENEW", b"limit", b"a", b"1h"],
        &[b"RL.ACQUIRE", b"string", b"2", b"1h"],
        &[b"RL.RELEASE", b"string", b"a"],
    ] {
        assert_eq!(error_of(&mut con, args), wrongtype, "{args:?}");
    }
    assert_eq!(
        (dump(&mut con, b"leases"), dump(&mut con, b"limit")),
        before
    );
}

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

#[test]
fn each_argument_error_reaches_the_client() {
    let server = Server::start();
    let mut con = server.conn();
    let long_id = vec![b'x'; 65];
    let acquire_args = |rest: &[&'static [u8]]| -> Vec<&'static [u8]> {
        let mut args: Vec<&[u8]> = vec![b"RL.ACQUIRE", b"k"];
        args.extend_from_slice(rest);
        args
    };
    let arity = "ERR wrong number of arguments";
    for (args, expected) in [
        (vec![&b"RL.ACQUIRE"[..], b"k", b"5"], arity),
        (vec![b"RL.RELEASE", b"k"], arity),
        (vec![b"RL.RELEASE", b"k", b"a", b"b"], arity),
        (vec![b"RL.RENEW", b"k", b"a"], arity),
        (acquire_args(&[b"0", b"1s"]), "ERR limit must be an integer from 1 to 10000, the most leases a key may hold (rl.lease-max-held)"),
        (acquire_args(&[b"10001", b"1s"]), "ERR limit must be an integer from 1 to 10000"),
        (acquire_args(&[b"5", b"1x"]), "ERR lease must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to 36500d)"),
        (acquire_args(&[b"5", b"1s", b"COST", b"0"]), "ERR COST must be an integer from 1 to 9223372036854775807"),
        (acquire_args(&[b"5", b"1s", b"ID", b""]), "ERR ID must be from 1 to 64 bytes"),
        (acquire_args(&[b"5", b"1s", b"ID"]), "ERR ID needs a value"),
        (acquire_args(&[b"5", b"1s", b"ID", b"a", b"id", b"b"]), "ERR ID is given more than once"),
        (acquire_args(&[b"5", b"1s", b"ALGO", b"GCRA"]), "ERR unknown option 'ALGO', expected COST or ID"),
        (vec![b"RL.RELEASE", b"k", b""], "ERR id must be from 1 to 64 bytes"),
        (vec![b"RL.RENEW", b"k", b"a", b"0"], "ERR lease must be a duration"),
    ] {
        assert_error(&mut con, &args, expected);
    }
    let too_long: Vec<&[u8]> = vec![b"RL.RENEW", b"k", &long_id, b"1s"];
    assert_error(&mut con, &too_long, "ERR id must be from 1 to 64 bytes");
    let keys: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(keys, 0, "no error creates a key");
}

#[test]
fn lease_max_held_bounds_the_limit_and_changes_at_run_time() {
    let server = Server::start_with(
        Options::default().module_args(&["lease-max-held", "3"]),
        &scratch_dir("max-held"),
    );
    let mut con = server.conn();
    assert_eq!(
        config_get(&mut con, "rl.lease-max-held"),
        ["rl.lease-max-held", "3"]
    );
    assert_eq!(acquire(&mut con, "k", 3, "1h", &[]).fields[0], 1);
    assert_error(
        &mut con,
        &[b"RL.ACQUIRE", b"k", b"4", b"1h"],
        "ERR limit must be an integer from 1 to 3, the most leases a key may hold (rl.lease-max-held)",
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rl.lease-max-held")
        .arg("1000000")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        acquire(&mut con, "k", 1_000_000, "1h", &[]).fields[..3],
        [1, 1_000_000, 999_998]
    );
    let refused = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rl.lease-max-held")
        .arg("1000001")
        .query::<()>(&mut con);
    assert!(refused.is_err(), "the bound is 1000000");
}

#[test]
fn a_client_that_may_only_take_leases_cannot_forge_them() {
    let server = Server::start();
    let mut admin = server.conn();
    // Redis 7.0 has no module ACL categories: the commands are granted by name there (see
    // the README's ACL notes).
    let rules: &[&str] = if server.has_module_acl_categories() {
        let members: Vec<String> = redis::cmd("ACL")
            .arg("CAT")
            .arg("ratelimit")
            .query(&mut admin)
            .unwrap();
        for command in ["rl.acquire", "rl.release", "rl.renew"] {
            assert!(
                members.contains(&command.to_string()),
                "{command} in {members:?}"
            );
        }
        assert!(
            !members.contains(&"rl.setleases".to_string()),
            "{members:?}"
        );
        &["~*", "+@ratelimit"]
    } else {
        &["~*", "-@all", "+rl.acquire", "+rl.release", "+rl.renew"]
    };
    let mut con = user(&server, "app", rules);
    let held = acquire(&mut con, "k", 1, "1h", &[]);
    assert_eq!(held.fields[0], 1);
    // An empty-looking state written over the key would free its capacity.
    let forged = redis::cmd("RL.SETLEASES")
        .arg("k")
        .arg(leases_bytes(
            1,
            states::now_us(),
            &[(states::now_us() + 1_000, 1, b"x")],
        ))
        .query::<()>(&mut con)
        .expect_err("RL.SETLEASES is not for clients that may only rate-limit");
    let expected = if server.has_internal_commands() {
        "ERR unknown command"
    } else {
        "NOPERM"
    };
    assert!(error_text(&forged).starts_with(expected), "{forged:?}");
    assert_eq!(
        acquire(&mut con, "k", 1, "1h", &[]).fields[0],
        0,
        "the limit still holds"
    );
    assert_eq!(release(&mut con, "k", &held.id.unwrap()), 1);
}

/// A leases state in the documented byte form: (expires_at µs, units, id) per lease.
fn leases_bytes(limit: u64, as_of: u64, leases: &[(u64, u64, &[u8])]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend(limit.to_le_bytes());
    out.extend(as_of.to_le_bytes());
    out.extend((leases.len() as u32).to_le_bytes());
    for (expires_at, units, id) in leases {
        out.extend(expires_at.to_le_bytes());
        out.extend(units.to_le_bytes());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
    }
    out
}

#[test]
fn setleases_validates_what_it_stores() {
    let server = Server::start();
    let mut con = server.conn();
    let now = states::now_us();
    let valid = leases_bytes(2, now, &[(now + 3_600_000_000, 1, b"a")]);
    if server.has_internal_commands() {
        assert_error(
            &mut con,
            &[b"RL.SETLEASES", b"k", &valid],
            "ERR unknown command",
        );
        return;
    }
    let prefix = "ERR state is not a valid leases state";
    for (bad, why) in [
        (vec![], "its length does not match its leases"),
        (
            leases_bytes(0, now, &[(now + 1, 1, b"a")]),
            "invalid state: its limit is outside 1 to 1000000",
        ),
        (
            leases_bytes(1, now, &[(now + 1, 2, b"a")]),
            "invalid state: its leases hold more units than its limit",
        ),
        (
            leases_bytes(2, now, &[(now + 1, 1, b"a"), (now + 2, 1, b"a")]),
            "invalid state: two leases have the same id",
        ),
        (
            leases_bytes(1, now, &[]),
            "invalid state: it holds no lease",
        ),
    ] {
        assert_error(
            &mut con,
            &[b"RL.SETLEASES", b"k", &bad],
            &format!("{prefix}: {why}"),
        );
    }
    let ok: String = redis::cmd("RL.SETLEASES")
        .arg("k")
        .arg(&valid)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    assert!((3_598_000..=3_600_001).contains(&pttl(&mut con, "k")));
    assert_eq!(release(&mut con, "k", "a"), 1);
    // A state whose last lease expired already is not kept.
    let lapsed = leases_bytes(2, 1_000_000, &[(2_000_000, 1, b"a")]);
    let _: String = redis::cmd("RL.SETLEASES")
        .arg("k")
        .arg(&lapsed)
        .query(&mut con)
        .unwrap();
    assert!(!exists(&mut con, "k"));
    let _: () = redis::cmd("SET").arg("s").arg("v").query(&mut con).unwrap();
    assert_error(&mut con, &[b"RL.SETLEASES", b"s", &valid], "WRONGTYPE");
}

#[test]
fn restore_without_ttl_copy_and_memory_usage() {
    let server = Server::start();
    let mut con = server.conn();
    acquire(&mut con, "k", 3, "1h", &["ID", "a"]);
    acquire(&mut con, "k", 3, "2h", &["ID", "b"]);
    let payload = dump(&mut con, b"k").unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("restored")
        .arg(0)
        .arg(&payload)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        pexpiretime(&mut con, b"restored"),
        pexpiretime(&mut con, b"k"),
        "the last lease's expiry"
    );
    let copied: bool = redis::cmd("COPY")
        .arg("k")
        .arg("copied")
        .query(&mut con)
        .unwrap();
    assert!(copied);
    assert_eq!(dump(&mut con, b"copied"), Some(payload.clone()));
    assert_eq!(release(&mut con, "k", "a"), 1);
    assert_eq!(
        release(&mut con, "copied", "a"),
        1,
        "the copy is independent"
    );
    assert_eq!(release(&mut con, "restored", "a"), 1);
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("restored")
        .query(&mut con)
        .unwrap();
    assert!(usage > 0 && usage < 400, "MEMORY USAGE {usage}");
    let mut corrupt = payload;
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let refused = redis::cmd("RESTORE")
        .arg("bad")
        .arg(0)
        .arg(&corrupt)
        .query::<()>(&mut con);
    assert!(error_text(&refused.expect_err("a corrupt payload")).starts_with("ERR"));
}

#[test]
fn changes_are_announced() {
    let server = Server::start_with(
        Options::default().config("notify-keyspace-events", "KEdg"),
        &scratch_dir("leases-events"),
    );
    let mut con = server.conn();
    let mut events = server.conn();
    events
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _: () = redis::cmd("PSUBSCRIBE")
        .arg("__keyevent@0__:*")
        .query(&mut events)
        .unwrap();
    acquire(&mut con, "k", 1, "1h", &["ID", "a"]);
    acquire(&mut con, "k", 1, "1h", &["ID", "b"]); // denied: nothing is said
    release(&mut con, "k", "b"); // not held: nothing is said
    renew(&mut con, "k", "a", "2h");
    acquire(&mut con, "k2", 2, "1h", &["ID", "x"]);
    acquire(&mut con, "k2", 2, "1h", &["ID", "y"]);
    release(&mut con, "k2", "x");
    release(&mut con, "k", "a"); // the last lease: the key is deleted
                                 // A marker: once its event arrives, every event before it has.
    acquire(&mut con, "marker", 1, "1h", &[]);
    let mut seen = Vec::new();
    loop {
        let reply = events.recv_response().expect("an event");
        let (Value::Array(parts) | Value::Push { data: parts, .. }) = reply else {
            continue;
        };
        let [Value::BulkString(kind), _, Value::BulkString(channel), Value::BulkString(key)] =
            parts.as_slice()
        else {
            continue;
        };
        if kind != b"pmessage" {
            continue;
        }
        let channel = String::from_utf8_lossy(channel);
        let event = channel.trim_start_matches("__keyevent@0__:").to_string();
        let key = String::from_utf8_lossy(key).into_owned();
        if key == "marker" {
            break;
        }
        seen.push((event, key));
    }
    let expected: Vec<(String, String)> = [
        ("rl.acquire", "k"),
        ("rl.renew", "k"),
        ("rl.acquire", "k2"),
        ("rl.acquire", "k2"),
        ("rl.release", "k2"),
        ("del", "k"),
    ]
    .iter()
    .map(|(e, k)| (e.to_string(), k.to_string()))
    .collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_step_back_of_the_clock_neither_frees_nor_extends() {
    let mut s = Frozen::start("leases-step");
    s.acquire("k", 2, "10s", &["ID", "a"]);
    s.advance(4_000);
    s.acquire("k", 2, "10s", &["ID", "b"]);
    // An hour back: both leases are held, with the time they had left.
    s.advance(-3_600_000);
    let denied = s.acquire("k", 2, "10s", &[]);
    assert_eq!(denied.fields, [0, 2, 0, 6_000, 10_000]);
    assert_eq!(s.pttl("k"), 10_000, "the key's expiry moved back with them");
    s.advance(5_999);
    assert_eq!(s.acquire("k", 2, "10s", &[]).fields, [0, 2, 0, 1, 4_001]);
    s.advance(1);
    assert_eq!(s.acquire("k", 2, "10s", &[]).fields[..3], [1, 2, 0]);
}

#[test]
fn registration_keys_and_docs() {
    let server = Server::start();
    let mut con = server.conn();
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("RL.ACQUIRE")
        .arg("tenant:7")
        .arg(5)
        .arg("1m")
        .arg("ID")
        .arg("job")
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["tenant:7"]);
    for (command, flag) in [
        ("rl.acquire", "denyoom"),
        ("rl.release", "fast"),
        ("rl.renew", "fast"),
    ] {
        let info: Value = redis::cmd("COMMAND")
            .arg("INFO")
            .arg(command)
            .query(&mut con)
            .unwrap();
        let text = format!("{info:?}");
        assert!(
            text.contains("write") && text.contains(flag),
            "{command}: {text}"
        );
    }
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("rl.release")
        .query(&mut con)
        .unwrap();
    assert!(
        !format!("{info:?}").contains("denyoom"),
        "releasing works when memory is full"
    );
    let docs: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("rl.acquire")
        .query(&mut con)
        .unwrap();
    assert!(format!("{docs:?}").contains("Takes a lease"), "{docs:?}");
}
