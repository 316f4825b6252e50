//! What the server knows about the module: its name, type, commands, flags and keys, so that
//! clients, ACLs and cluster routing treat the commands like core ones.

mod common;

use common::*;

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().flat_map(strings).collect(),
        Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => vec![s.clone()],
        Value::Int(n) => vec![n.to_string()],
        Value::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| strings(k).into_iter().chain(strings(v)))
            .collect(),
        _ => vec![],
    }
}

#[test]
fn module_and_type_names() {
    let server = Server::start();
    let mut con = server.conn();
    let modules: Value = redis::cmd("MODULE").arg("LIST").query(&mut con).unwrap();
    assert!(strings(&modules).contains(&"rl".to_string()), "{modules:?}");
    hit(&mut con, b"k", 1, "60");
    let kind: String = redis::cmd("TYPE").arg("k").query(&mut con).unwrap();
    assert_eq!(kind, "ratelimit");
}

#[test]
fn command_info_flags_and_key_specs() {
    let server = Server::start();
    let mut con = server.conn();
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("rl.hit")
        .query(&mut con)
        .unwrap();
    let words = strings(&info);
    for expected in [
        "rl.hit", "-4", "write", "denyoom", "fast", "RW", "access", "update",
    ] {
        assert!(
            words.contains(&expected.to_string()),
            "{expected} in {words:?}"
        );
    }
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("RL.HIT")
        .arg("user:42")
        .arg(10)
        .arg("60")
        .arg("COST")
        .arg(2)
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["user:42"]);
    let docs: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("rl.hit")
        .query(&mut con)
        .unwrap();
    let words = strings(&docs);
    assert!(
        words.iter().any(|w| w.starts_with("Counts a request")),
        "{words:?}"
    );
    assert!(words.contains(&"COST".to_string()));
}

#[test]
fn rl_hit_is_refused_when_out_of_memory() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(1)
        .query(&mut con)
        .unwrap();
    let error = redis::cmd("RL.HIT")
        .arg("k")
        .arg(5)
        .arg("60")
        .query::<Vec<i64>>(&mut con)
        .expect_err("deny-oom");
    assert!(error_text(&error).starts_with("OOM"), "{error:?}");
}

#[test]
fn acl_key_patterns_see_the_key() {
    let server = Server::start();
    let mut admin = server.conn();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">secret")
        .arg("~allowed:*")
        .arg("+rl.hit")
        .query(&mut admin)
        .unwrap();
    let mut con = server.conn();
    let _: () = redis::cmd("AUTH")
        .arg("app")
        .arg("secret")
        .query(&mut con)
        .unwrap();
    assert_eq!(hit(&mut con, b"allowed:1", 5, "60")[0], 1);
    let error = redis::cmd("RL.HIT")
        .arg("other:1")
        .arg(5)
        .arg("60")
        .query::<Vec<i64>>(&mut con)
        .expect_err("a key outside the user's patterns");
    assert!(error_text(&error).starts_with("NOPERM"), "{error:?}");
}

fn acl_cat(con: &mut Connection, category: &str) -> Vec<String> {
    redis::cmd("ACL")
        .arg("CAT")
        .arg(category)
        .query(con)
        .unwrap()
}

#[test]
fn acl_category_where_the_server_has_module_categories() {
    let server = Server::start_with(
        Options::default().module_args(&["cell-compat", "yes"]),
        &scratch_dir("acl"),
    );
    let mut con = server.conn();
    let categories: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut con).unwrap();
    let supported = server.has_module_acl_categories();
    assert_eq!(
        categories.contains(&"ratelimit".to_string()),
        supported,
        "{categories:?}"
    );
    if !supported {
        return;
    }
    let members = acl_cat(&mut con, "ratelimit");
    for command in ["rl.hit", "rl.peek", "rl.mhit", "cl.throttle"] {
        assert!(
            members.contains(&command.to_string()),
            "{command} in {members:?}"
        );
    }
    assert!(!members.contains(&"rl.setstate".to_string()), "{members:?}");
    assert!(acl_cat(&mut con, "write").contains(&"rl.hit".to_string()));
    assert!(acl_cat(&mut con, "read").contains(&"rl.peek".to_string()));
    if !server.has_internal_commands() {
        // Replication plumbing, where operators look for it.
        for category in ["admin", "dangerous", "write"] {
            let members = acl_cat(&mut con, category);
            assert!(
                members.contains(&"rl.setstate".to_string()),
                "{category}: {members:?}"
            );
        }
    }
}

#[test]
fn a_client_that_may_only_rate_limit_cannot_forge_a_state() {
    let server = Server::start();
    if !server.has_module_acl_categories() {
        return; // Redis 7.0: see the next test.
    }
    let mut con = user(&server, "app", &["~*", "+@ratelimit"]);
    for _ in 0..3 {
        hit(&mut con, b"k", 3, "60");
    }
    assert_eq!(hit(&mut con, b"k", 3, "60")[0], 0);
    let lapsed = states::State::Sliding {
        window: 60_000_000,
        as_of: 1_000_000,
        into: 0,
        current: 1,
        previous: 0,
    };
    let error = redis::cmd("RL.SETSTATE")
        .arg("k")
        .arg(lapsed.bytes())
        .query::<()>(&mut con)
        .expect_err("RL.SETSTATE is not for clients that may only rate-limit");
    let expected = if server.has_internal_commands() {
        "ERR unknown command"
    } else {
        "NOPERM"
    };
    assert!(error_text(&error).starts_with(expected), "{error:?}");
    let error = redis::cmd("DEL")
        .arg("k")
        .query::<i64>(&mut con)
        .expect_err("nor DEL");
    assert!(error_text(&error).starts_with("NOPERM"), "{error:?}");
    assert_eq!(hit(&mut con, b"k", 3, "60")[0], 0, "the limit still holds");
    if server.has_internal_commands() {
        // Hidden from clients altogether.
        let info: Value = redis::cmd("COMMAND")
            .arg("INFO")
            .arg("rl.setstate")
            .query(&mut server.conn())
            .unwrap();
        assert_eq!(info, Value::Array(vec![Value::Nil]));
    }
}

#[test]
fn on_redis_7_0_write_rules_do_not_reach_module_commands() {
    // Redis 7.0 has no module ACL categories: a module command is in no category, so
    // `-@write` does not take RL.HIT away. The README's ACL notes give the form to use.
    let server = Server::start();
    if server.has_module_acl_categories() {
        return;
    }
    let mut con = user(&server, "reader", &["~*", "+@all", "-@write"]);
    assert_eq!(hit(&mut con, b"k", 3, "60")[0], 1);
    let mut con = user(
        &server,
        "limited",
        &["~*", "-@all", "+rl.hit", "+rl.peek", "+rl.mhit"],
    );
    assert_eq!(hit(&mut con, b"k", 3, "60")[0], 1);
    let error = redis::cmd("RL.SETSTATE")
        .arg("k")
        .arg("x")
        .query::<()>(&mut con)
        .expect_err("not granted");
    assert!(error_text(&error).starts_with("NOPERM"), "{error:?}");
}

#[test]
fn cluster_routing_sees_the_key() {
    // A one-node cluster serving only the slots 0..=8191: a key is served or refused by the
    // slot the server computed from RL.HIT's key position.
    let server = Server::start_with(
        Options::default()
            .config("cluster-enabled", "yes")
            .config("cluster-require-full-coverage", "no"),
        &scratch_dir("cluster"),
    );
    let mut con = server.conn();
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(8191)
        .query(&mut con)
        .unwrap();
    assert!(wait_until(10, || {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
        info.contains("cluster_state:ok")
    }));
    let slot = |con: &mut Connection, key: &str| -> i64 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(con)
            .unwrap()
    };
    let served = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| slot(&mut con, k) <= 8191)
        .unwrap();
    let unserved = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| slot(&mut con, k) > 8191)
        .unwrap();
    assert_eq!(hit(&mut con, served.as_bytes(), 5, "60")[0], 1);
    let error = redis::cmd("RL.HIT")
        .arg(&unserved)
        .arg(5)
        .arg("60")
        .query::<Vec<i64>>(&mut con)
        .expect_err("a key in a slot nobody serves");
    assert!(error_text(&error).starts_with("CLUSTERDOWN"), "{error:?}");
}
