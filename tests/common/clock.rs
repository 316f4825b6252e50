//! A wall clock the test sets, for servers started with it: frozen at an instant, or shifted
//! from the real one, and changed while the server runs (tests/support/clockshift.c, preloaded
//! into the server, reads it from a file on every clock call).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Connection, Options};

/// Builds the preload library once per test process.
pub fn library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/clockshift.c");
        let library = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("clockshift-{}.so", std::process::id()));
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&library)
            .arg(&source)
            .status()
            .expect("a C compiler (cc) to build tests/support/clockshift.c");
        assert!(status.success(), "building the clock shim failed");
        library
    })
}

pub struct Clock {
    path: PathBuf,
    frozen: Option<u64>,
    shift: i64,
}

impl Clock {
    /// A clock kept in `dir`, running with the real time until the test changes it.
    pub fn new(dir: &Path) -> Clock {
        let clock = Clock {
            path: dir.join("clock"),
            frozen: None,
            shift: 0,
        };
        clock.write("+0");
        clock
    }

    /// `options` for a server that runs on this clock.
    pub fn options(&self, mut options: Options) -> Options {
        options
            .env
            .push(("LD_PRELOAD".into(), library().display().to_string()));
        options
            .env
            .push(("CLOCKSHIFT_FILE".into(), self.path.display().to_string()));
        options
    }

    fn write(&self, line: &str) {
        // In place and padded to one width, so that the server never reads a partial line.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .expect("the clock file");
        writeln!(file, "{line:<31}").expect("write the clock file");
    }

    /// The clock stands at `us` microseconds since 1970.
    pub fn freeze(&mut self, us: u64) {
        self.frozen = Some(us);
        self.write(&format!("@{us}"));
    }

    /// Moves a frozen clock by `us` (back when negative).
    pub fn advance(&mut self, us: i64) {
        let at = self.frozen.expect("advance moves a frozen clock");
        self.freeze(at.saturating_add_signed(us));
    }

    /// The real clock moved by `us` (back when negative).
    pub fn shift(&mut self, us: i64) {
        self.frozen = None;
        self.shift = us;
        self.write(&format!("{us:+}"));
    }

    /// What the server's clock should read now, in microseconds.
    pub fn expected(&self) -> u64 {
        self.frozen.unwrap_or_else(|| {
            let real = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            real.saturating_add_signed(self.shift)
        })
    }

    /// Waits until the server reads the clock as set: some servers read the wall clock once
    /// per event loop turn. A frozen clock must read its instant or up to a millisecond more
    /// (Valkey adds its own microseconds), a shifted one within 5 ms.
    pub fn wait_seen(&self, con: &mut Connection) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (secs, micros): (u64, u64) = redis::cmd("TIME").query(con).expect("TIME");
            let seen = secs * 1_000_000 + micros;
            let expected = self.expected();
            let close = match self.frozen {
                Some(_) => (expected..expected + 1_000).contains(&seen),
                None => seen.abs_diff(expected) <= 5_000,
            };
            if close {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server's clock reads {seen}, not {}",
                self.expected()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
