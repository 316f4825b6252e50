//! RL.PEEK: the answer RL.HIT would give, with nothing consumed, written or propagated, also on
//! a replica.

mod common;

use common::*;

fn peek(con: &mut Connection, key: &str, limit: u64, window: &str, options: &[&str]) -> [i64; 5] {
    peek_with(con, key.as_bytes(), limit, window, options)
}

#[test]
fn peek_answers_what_hit_would_for_every_algorithm() {
    let server = Server::start();
    let mut con = server.conn();
    for algo in ["SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA"] {
        for cost in ["1", "2", "3", "1", "9"] {
            let options = ["ALGO", algo, "COST", cost];
            let mut tx = redis::pipe();
            tx.atomic();
            tx.cmd("RL.PEEK").arg(algo).arg(4).arg("1h").arg(&options);
            tx.cmd("RL.HIT").arg(algo).arg(4).arg("1h").arg(&options);
            let (peeked, hit): (Vec<i64>, Vec<i64>) = tx.query(&mut con).unwrap();
            if server.has_command_time_snapshot() {
                assert_eq!(peeked, hit, "{algo} COST {cost}");
            } else {
                assert_eq!(peeked[..3], hit[..3], "{algo} COST {cost}");
            }
        }
    }
}

#[test]
fn peek_consumes_and_writes_nothing() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(peek(&mut con, "new", 3, "60", &[])[..3], [1, 3, 2]);
    let exists: bool = redis::cmd("EXISTS").arg("new").query(&mut con).unwrap();
    assert!(!exists, "peeking creates no key");
    hit(&mut con, b"k", 3, "60");
    let before = (dump(&mut con, b"k"), pexpiretime(&mut con, b"k"));
    let changes = info_field(&mut con, "persistence", "rdb_changes_since_last_save");
    for _ in 0..5 {
        assert_eq!(peek(&mut con, "k", 3, "60", &[])[..3], [1, 3, 1]);
    }
    // Even a peek with another algorithm, which would reshape the key, leaves it alone.
    peek(&mut con, "k", 3, "1s", &["ALGO", "GCRA"]);
    assert_eq!((dump(&mut con, b"k"), pexpiretime(&mut con, b"k")), before);
    assert_eq!(
        info_field(&mut con, "persistence", "rdb_changes_since_last_save"),
        changes
    );
    let _: () = redis::cmd("SET").arg("s").arg("v").query(&mut con).unwrap();
    let error = error_of(&mut con, &[b"RL.PEEK", b"s", b"3", b"60"]);
    assert!(error.starts_with("WRONGTYPE"), "{error}");
}

#[test]
fn peek_runs_on_a_replica_and_propagates_nothing() {
    let primary = Server::start_with(
        Options::default()
            .config("repl-diskless-sync-delay", "0")
            .config("repl-ping-replica-period", "60")
            .config("appendonly", "yes")
            .config("appendfsync", "always"),
        &scratch_dir("peek-primary"),
    );
    let replica = Server::start();
    attach_replica(&replica, &primary);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    hit(&mut p, b"k", 3, "60");
    settle(&mut p);

    let offset = info_field(&mut p, "replication", "master_repl_offset");
    let aof_size = aof_bytes(&primary);
    let mut monitor = Monitor::start(replica.port);
    for _ in 0..3 {
        assert_eq!(peek(&mut p, "k", 3, "60", &[])[..3], [1, 3, 1]);
        assert_eq!(peek(&mut r, "k", 3, "60", &[])[..3], [1, 3, 1]);
    }
    assert_eq!(
        info_field(&mut p, "replication", "master_repl_offset"),
        offset
    );
    assert_eq!(aof_bytes(&primary), aof_size, "nothing reaches the AOF");
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut r)
        .unwrap();
    assert!(stats.contains("cmdstat_rl.peek:calls=3"), "{stats}");
    assert!(
        stats.contains("cmdstat_rl.setstate:calls=1"),
        "only the hit arrived: {stats}"
    );
    // What the replica executes, as MONITOR shows it: the peeks sent to it directly, then
    // the effect of one hit on the primary (MONITOR does not show internal commands, which
    // RL.SETSTATE is on Redis 8), and nothing from the primary's peeks.
    hit(&mut p, b"k", 3, "60");
    settle(&mut p);
    let _: String = redis::cmd("ECHO").arg("end-of-test").query(&mut r).unwrap();
    let seen = monitor.until("end-of-test");
    let rl: Vec<&String> = seen.iter().filter(|l| l.contains("\"RL.")).collect();
    let effects = if replica.has_internal_commands() {
        0
    } else {
        1
    };
    assert_eq!(
        rl.len(),
        3 + effects,
        "three peeks of ours, then the effect: {seen:?}"
    );
    assert!(rl[..3].iter().all(|l| l.contains("RL.PEEK")), "{seen:?}");
}

/// A MONITOR connection, read line by line.
struct Monitor {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl Monitor {
    fn start(port: u16) -> Monitor {
        use std::io::{BufRead, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(b"MONITOR\r\n").unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let mut ok = String::new();
        reader.read_line(&mut ok).unwrap();
        assert_eq!(ok.trim(), "+OK");
        Monitor { reader }
    }

    /// Every command seen, up to and including the first that contains `marker`.
    fn until(&mut self, marker: &str) -> Vec<String> {
        use std::io::BufRead;
        let mut seen = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("a MONITOR line");
            let done = line.contains(marker);
            // Pings from the primary keep the link alive; they are not commands of ours.
            if !line.contains("\"PING\"") && !line.contains("\"ping\"") {
                seen.push(line.trim().to_string());
            }
            if done {
                return seen;
            }
        }
    }
}

fn aof_bytes(server: &Server) -> usize {
    aof_contents(&server.dir).len()
}
