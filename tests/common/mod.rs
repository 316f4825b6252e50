//! Real servers for integration tests: each test starts its own redis-server (or
//! valkey-server) with the module loaded, on a free loopback port, in a directory of its own,
//! and stops it by pid when dropped.
//!
//! `RL_SERVER` names the server binary (default `redis-server`), `RL_MODULE` the module
//! (default `target/release/librl.so`); `make test` sets both for each server of the matrix.

#![allow(dead_code)] // each test binary uses its own part of this file

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use redis::{Connection, Value};

pub mod clock;
pub mod states;

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

pub fn server_binary() -> String {
    std::env::var("RL_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

pub fn module_path() -> PathBuf {
    let path = std::env::var("RL_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/librl.so"));
    assert!(
        path.exists(),
        "the module {} is missing: build it first (make build)",
        path.display()
    );
    path
}

/// A fresh, empty directory for one server's files.
pub fn scratch_dir(label: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the server directory");
    dir
}

/// How to start a server.
#[derive(Clone)]
pub struct Options {
    /// Extra `--name value` configuration.
    pub config: Vec<(String, String)>,
    /// Arguments after the module path on the loadmodule line.
    pub module_args: Vec<String>,
    /// Load the module at all.
    pub load_module: bool,
    /// A program and its arguments to run the server under (e.g. faketime).
    pub wrapper: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: vec![],
            module_args: vec![],
            load_module: true,
            wrapper: vec![],
            env: vec![],
        }
    }
}

impl Options {
    pub fn config(mut self, name: &str, value: &str) -> Self {
        self.config.push((name.to_string(), value.to_string()));
        self
    }

    pub fn module_args(mut self, args: &[&str]) -> Self {
        self.module_args = args.iter().map(|a| a.to_string()).collect();
        self
    }
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    options: Options,
}

impl Server {
    /// A server with the module and no persistence.
    pub fn start() -> Server {
        Server::start_with(Options::default(), &scratch_dir("srv"))
    }

    /// A server with `options`, keeping its files in `dir`.
    pub fn start_with(options: Options, dir: &Path) -> Server {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            match spawn(&options, dir, port) {
                Ok(child) => {
                    return Server {
                        child: Some(child),
                        port,
                        dir: dir.to_path_buf(),
                        options,
                    }
                }
                Err(e) => last_error = e,
            }
        }
        panic!("could not start {}: {last_error}", server_binary());
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn conn(&self) -> Connection {
        let client = redis::Client::open(self.url()).expect("client");
        let con = client
            .get_connection_with_timeout(Duration::from_secs(10))
            .expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        con
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Stops the server the way an operator would, letting it write what it must, then
    /// starts it again on the same directory and port-agnostic configuration.
    pub fn restart(mut self) -> Server {
        let mut con = self.conn();
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut con);
        self.wait_exit();
        let options = self.options.clone();
        let dir = self.dir.clone();
        drop(self);
        Server::start_with(options, &dir)
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(mut self) -> (Options, PathBuf) {
        self.stop();
        (self.options.clone(), self.dir.clone())
    }

    fn wait_exit(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return;
                }
                sleep(Duration::from_millis(20));
            }
        }
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `INFO server` fields: which server this is.
    pub fn version(&self) -> (String, Vec<u32>) {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut self.conn())
            .expect("INFO");
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim().to_string())
        };
        let (flavour, version) = match field("valkey_version") {
            Some(v) => ("valkey", v),
            None => ("redis", field("redis_version").unwrap_or_default()),
        };
        let numbers = version.split('.').filter_map(|n| n.parse().ok()).collect();
        (flavour.to_string(), numbers)
    }

    /// True on servers with module internal commands (Redis 8.0+): RL.SETSTATE is one there,
    /// callable only by the server itself.
    pub fn has_internal_commands(&self) -> bool {
        let (flavour, v) = self.version();
        flavour == "redis" && v.as_slice() >= [8].as_slice()
    }

    /// True on servers with module ACL categories (Redis 7.4+, Valkey 8+).
    pub fn has_module_acl_categories(&self) -> bool {
        let (flavour, v) = self.version();
        v.as_slice()
            >= if flavour == "valkey" {
                [8].as_slice()
            } else {
                [7, 4].as_slice()
            }
    }

    /// True on servers with a per-command time snapshot (Redis 7.2+, Valkey).
    pub fn has_command_time_snapshot(&self) -> bool {
        let (flavour, v) = self.version();
        flavour == "valkey" || v.as_slice() >= [7, 2].as_slice()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn spawn(options: &Options, dir: &Path, port: u16) -> Result<Child, String> {
    let mut argv: Vec<String> = options.wrapper.clone();
    argv.push(server_binary());
    let mut config: Vec<(String, String)> = vec![
        ("port".into(), port.to_string()),
        ("bind".into(), "127.0.0.1".into()),
        ("dir".into(), dir.display().to_string()),
        ("logfile".into(), "server.log".into()),
        ("save".into(), String::new()),
        ("appendonly".into(), "no".into()),
        ("enable-debug-command".into(), "yes".into()),
        ("daemonize".into(), "no".into()),
    ];
    for (name, value) in &options.config {
        config.retain(|(n, _)| n != name);
        config.push((name.clone(), value.clone()));
    }
    for (name, value) in config {
        argv.push(format!("--{name}"));
        argv.push(value);
    }
    if options.load_module {
        argv.push("--loadmodule".into());
        argv.push(module_path().display().to_string());
        argv.extend(options.module_args.iter().cloned());
    }
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in &options.env {
        command.env(name, value);
    }
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", argv[0]))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = format!("redis://127.0.0.1:{port}/");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            return Err(format!("exited with {status}; log:\n{log}"));
        }
        let ready = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con));
        match ready {
            Ok(_) => return Ok(child),
            // Loading a data set answers LOADING: keep waiting.
            Err(_) => sleep(Duration::from_millis(25)),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("did not answer PING within 20 s".into())
}

/// RL.HIT, as its five integers.
pub fn hit(con: &mut Connection, key: &[u8], limit: u64, window: &str) -> [i64; 5] {
    hit_with(con, key, limit, window, &[])
}

pub fn hit_with(
    con: &mut Connection,
    key: &[u8],
    limit: u64,
    window: &str,
    options: &[&str],
) -> [i64; 5] {
    let reply: Vec<i64> = redis::cmd("RL.HIT")
        .arg(key)
        .arg(limit)
        .arg(window)
        .arg(options)
        .query(con)
        .expect("RL.HIT");
    reply.try_into().expect("five integers")
}

/// The error text a command answers with.
pub fn error_of(con: &mut Connection, args: &[&[u8]]) -> String {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(con) {
        Ok(v) => panic!("expected an error from {:?}, got {v:?}", args),
        Err(e) => error_text(&e),
    }
}

/// `CODE detail` as the server sent it.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

/// DUMP of a key: the bytes of its value (and RDB version), without its TTL.
pub fn dump(con: &mut Connection, key: &[u8]) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query(con).expect("DUMP")
}

pub fn pexpiretime(con: &mut Connection, key: &[u8]) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query(con)
        .expect("PEXPIRETIME")
}

/// `CONFIG GET name`: the name and value pairs it answers.
pub fn config_get(con: &mut Connection, name: &str) -> Vec<String> {
    redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(con)
        .unwrap()
}

/// A field of an INFO section, empty when absent.
pub fn info_field(con: &mut Connection, section: &str, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Waits until `check` holds, for at most `secs` seconds.
pub fn wait_until(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        sleep(Duration::from_millis(20));
    }
    check()
}

/// RL.PEEK, as its five integers.
pub fn peek_with(
    con: &mut Connection,
    key: &[u8],
    limit: u64,
    window: &str,
    options: &[&str],
) -> [i64; 5] {
    let reply: Vec<i64> = redis::cmd("RL.PEEK")
        .arg(key)
        .arg(limit)
        .arg(window)
        .arg(options)
        .query(con)
        .expect("RL.PEEK");
    reply.try_into().expect("five integers")
}

pub fn pttl(con: &mut Connection, key: impl AsRef<[u8]>) -> i64 {
    redis::cmd("PTTL")
        .arg(key.as_ref())
        .query(con)
        .expect("PTTL")
}

/// Makes `replica` a replica of `primary` and waits until its link is up.
pub fn attach_replica(replica: &Server, primary: &Server) {
    let mut con = replica.conn();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut con)
        .expect("REPLICAOF");
    assert!(
        wait_until(30, || info_field(
            &mut con,
            "replication",
            "master_link_status"
        ) == "up"),
        "the replica did not sync: {}",
        replica.log()
    );
}

/// Waits until the primary's one replica has acknowledged every write so far.
pub fn settle(primary: &mut Connection) {
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query(primary)
        .expect("WAIT");
    assert_eq!(acked, 1, "the replica acknowledged the writes");
}

/// The AOF files of a server (base and incremental), end to end.
pub fn aof_contents(server_dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(server_dir.join("appendonlydir"))
        .expect("appendonlydir")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    for path in files {
        all.extend(std::fs::read(path).expect("an AOF file"));
    }
    all
}

/// Whether `needle` occurs in `haystack`, ASCII case aside (commands in an AOF).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// A connection authenticated as a new user with `rules`.
pub fn user(server: &Server, name: &str, rules: &[&str]) -> Connection {
    let mut admin = server.conn();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(name)
        .arg("on")
        .arg(">secret")
        .arg(rules)
        .query(&mut admin)
        .unwrap();
    let mut con = server.conn();
    let _: () = redis::cmd("AUTH")
        .arg(name)
        .arg("secret")
        .query(&mut con)
        .unwrap();
    con
}
