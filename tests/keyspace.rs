//! How keys enter and announce themselves: a state restored without a TTL gets its own expiry
//! (on the primary, its replicas and after an AOF reload), every change is announced as a
//! keyspace event, and denials are on request; on Valkey, slots holding rate-limit keys move
//! with CLUSTER MIGRATESLOTS under traffic.

mod common;

use std::time::Duration;

use common::states::{plant, State};
use common::*;

#[test]
fn a_state_restored_without_ttl_expires_when_its_state_says() {
    let dir = scratch_dir("restore-ttl");
    let primary = Server::start_with(
        Options::default()
            .config("appendonly", "yes")
            .config("repl-diskless-sync-delay", "0"),
        &dir,
    );
    let replica = Server::start();
    let (mut p, mut r) = (primary.conn(), replica.conn());
    attach_replica(&replica, &primary);

    hit(&mut p, b"source", 5, "60");
    let payload = dump(&mut p, b"source").unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("copy")
        .arg(0)
        .arg(&payload)
        .query(&mut p)
        .unwrap();
    let expected = pexpiretime(&mut p, b"source");
    assert!(expected > 0);
    assert_eq!(pexpiretime(&mut p, b"copy"), expected);
    // A state that lapsed already: the key is gone at once, not kept forever.
    let lapsed = State::Fixed {
        window: 1_000,
        as_of: 1_000_000,
        into: 0,
        count: 1,
    };
    plant(&mut p, b"lapsed", 0, &lapsed.bytes()).unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg("lapsed").query(&mut p).unwrap();
    assert_eq!(exists, 0);

    settle(&mut p);
    assert_eq!(
        pexpiretime(&mut r, b"copy"),
        expected,
        "the replica derives the same expiry"
    );
    drop(p);
    let primary = primary.restart();
    let mut p = primary.conn();
    assert_eq!(
        pexpiretime(&mut p, b"copy"),
        expected,
        "so does an AOF replay"
    );
    // A TTL given to RESTORE is kept.
    let _: () = redis::cmd("RESTORE")
        .arg("given")
        .arg(5_000)
        .arg(&payload)
        .query(&mut p)
        .unwrap();
    assert!((4_000..=5_000).contains(&pttl(&mut p, b"given")));
}

/// A connection subscribed to every keyevent channel, and the events it receives.
struct Events {
    con: Connection,
}

impl Events {
    fn subscribe(server: &Server) -> Events {
        let mut con = server.conn();
        con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _: () = redis::cmd("PSUBSCRIBE")
            .arg("__keyevent@0__:*")
            .query(&mut con)
            .unwrap();
        Events { con }
    }

    /// The next `n` (event, key) pairs. An event sent that should not have been shows up as
    /// the first of the next call's.
    fn take(&mut self, n: usize) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        while seen.len() < n {
            let reply = self.con.recv_response().expect("an event");
            let (Value::Array(parts) | Value::Push { data: parts, .. }) = reply else {
                continue;
            };
            let text = |v: &Value| match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => format!("{other:?}"),
            };
            if let [kind, _, channel, key] = parts.as_slice() {
                if text(kind) == "pmessage" {
                    let event = text(channel)
                        .trim_start_matches("__keyevent@0__:")
                        .to_string();
                    seen.push((event, text(key)));
                }
            }
        }
        seen
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(e, k)| (e.to_string(), k.to_string()))
        .collect()
}

#[test]
fn changes_are_announced_and_denials_on_request() {
    let server = Server::start_with(
        Options::default().config("notify-keyspace-events", "KEdg"),
        &scratch_dir("events"),
    );
    let mut con = server.conn();
    let mut events = Events::subscribe(&server);
    hit(&mut con, b"k", 1, "60");
    hit(&mut con, b"k", 1, "60"); // denied: nothing changes, nothing is said
    let _: Vec<i64> = redis::cmd("RL.MHIT")
        .arg(2)
        .arg("{u}:a")
        .arg("{u}:b")
        .arg("LIMIT")
        .arg(5)
        .arg("1s")
        .arg("LIMIT")
        .arg(5)
        .arg("1h")
        .query(&mut con)
        .unwrap();
    let expected = pairs(&[("rl.hit", "k"), ("rl.mhit", "{u}:a"), ("rl.mhit", "{u}:b")]);
    assert_eq!(events.take(3), expected);

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rl.notify-denied")
        .arg("yes")
        .query(&mut con)
        .unwrap();
    assert_eq!(hit(&mut con, b"k", 1, "60")[0], 0);
    let denied: Vec<i64> = redis::cmd("RL.MHIT")
        .arg(2)
        .arg("{u}:a")
        .arg("{u}:c")
        .arg("LIMIT")
        .arg(5)
        .arg("1s")
        .arg("LIMIT")
        .arg(5)
        .arg("1h")
        .arg("COST")
        .arg(5)
        .query(&mut con)
        .unwrap();
    assert_eq!((denied[0], denied[5]), (0, 1));
    assert_eq!(
        events.take(2),
        pairs(&[("rl.denied", "k"), ("rl.denied", "{u}:a")])
    );
    if !server.has_internal_commands() {
        // A state that lapsed already, written over a key, deletes it.
        let lapsed = State::Fixed {
            window: 1_000,
            as_of: 1_000_000,
            into: 0,
            count: 1,
        };
        let _: () = redis::cmd("RL.SETSTATE")
            .arg("k")
            .arg(lapsed.bytes())
            .query(&mut con)
            .unwrap();
        assert_eq!(events.take(1), pairs(&[("del", "k")]));
    }
}

#[test]
fn slots_move_with_atomic_slot_migration_under_traffic() {
    let probe = Server::start();
    if probe.version().0 != "valkey" {
        return; // CLUSTER MIGRATESLOTS is Valkey's (9.0+)
    }
    drop(probe);
    let cluster = |label: &str| {
        Server::start_with(
            Options::default()
                .config("cluster-enabled", "yes")
                .config("cluster-require-full-coverage", "no"),
            &scratch_dir(label),
        )
    };
    let (a, b) = (cluster("asm-a"), cluster("asm-b"));
    let (mut ca, mut cb) = (a.conn(), b.conn());
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query(&mut ca)
        .unwrap();
    let _: () = redis::cmd("CLUSTER")
        .arg("MEET")
        .arg("127.0.0.1")
        .arg(b.port)
        .query(&mut ca)
        .unwrap();
    let b_id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut cb).unwrap();
    assert!(wait_until(20, || {
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut ca).unwrap();
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut cb).unwrap();
        nodes.contains(&b_id) && info.contains("cluster_state:ok")
    }));
    // Keys of every algorithm in one slot.
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("{moving}")
        .query(&mut ca)
        .unwrap();
    let keys: Vec<String> = ["SLIDING", "FIXED", "GCRA"]
        .iter()
        .map(|a| format!("{{moving}}:{a}"))
        .collect();
    let traffic = |con: &mut Connection| {
        for (key, algo) in keys.iter().zip(["SLIDING", "FIXED", "GCRA"]) {
            let reply = redis::cmd("RL.HIT")
                .arg(key)
                .arg(1000)
                .arg("1h")
                .arg("ALGO")
                .arg(algo)
                .query::<Vec<i64>>(con);
            if let Err(e) = reply {
                assert!(
                    error_text(&e).starts_with("MOVED") || error_text(&e).starts_with("TRYAGAIN"),
                    "{e:?}"
                );
            }
        }
    };
    for _ in 0..20 {
        traffic(&mut ca);
    }
    let _: () = redis::cmd("CLUSTER")
        .arg("MIGRATESLOTS")
        .arg("SLOTSRANGE")
        .arg(slot)
        .arg(slot)
        .arg("NODE")
        .arg(&b_id)
        .query(&mut ca)
        .expect("CLUSTER MIGRATESLOTS is accepted with the module loaded");
    // Traffic goes on while the slot moves; afterwards b serves it. (b holds the keys before
    // it owns the slot: until then it answers MOVED for them.)
    assert!(wait_until(30, || {
        traffic(&mut ca);
        let count: i64 = redis::cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot)
            .query(&mut cb)
            .unwrap();
        let served = redis::cmd("EXISTS")
            .arg(&keys[0])
            .query::<i64>(&mut cb)
            .is_ok();
        count == 3 && served
    }));
    let mut states = Vec::new();
    for key in &keys {
        states.push((
            dump(&mut cb, key.as_bytes()),
            pexpiretime(&mut cb, key.as_bytes()),
        ));
        assert!(states.last().unwrap().1 > 0, "{key} keeps an expiry");
    }
    // The moved keys are live: their usage came along.
    for (key, algo) in keys.iter().zip(["SLIDING", "FIXED", "GCRA"]) {
        let reply: Vec<i64> = redis::cmd("RL.PEEK")
            .arg(key)
            .arg(1000)
            .arg("1h")
            .arg("ALGO")
            .arg(algo)
            .query(&mut cb)
            .unwrap();
        assert!(reply[2] <= 980, "{key}: {reply:?}");
    }
}
