//! The real bridge binary as a child process: started with a config file,
//! its log (stderr) in a file, killed with SIGKILL or stopped, its memory
//! read from `/proc` (Linux).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `wabridge -c <config>`.
#[derive(Debug)]
pub struct BridgeProcess {
    child: Child,
    log: PathBuf,
}

impl BridgeProcess {
    /// Starts `binary -c config`, stdout and stderr appended to `log`.
    /// `RUST_LOG` of the caller is not passed on: the config's level rules.
    pub fn spawn(binary: &Path, config: &Path, log: &Path) -> BridgeProcess {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        BridgeProcess {
            child,
            log: log.to_owned(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reaped.
    pub fn kill9(mut self) {
        // `Child::kill` sends SIGKILL on Unix.
        self.child.kill().expect("SIGKILL the bridge");
        let status = self.child.wait().expect("reap the bridge");
        assert!(!status.success(), "killed, not exited: {status}");
    }

    /// Panics (with the log's tail) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "the bridge exited ({status}); log tail:\n{}",
                tail(&self.log, 40)
            );
        }
    }

    /// Peak resident memory so far (`VmHWM`, KiB).
    pub fn peak_rss_kib(&self) -> u64 {
        status_field(self.pid(), "VmHWM:")
    }

    /// Current resident memory (`VmRSS`, KiB).
    pub fn rss_kib(&self) -> u64 {
        status_field(self.pid(), "VmRSS:")
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "bridge: test failed; last lines of {}:\n{}",
                self.log.display(),
                tail(&self.log, 60)
            );
        }
    }
}

/// CPU time a process has used so far (user + system, seconds), from
/// `/proc/PID/stat` (Linux; its clock ticks are 1/100 s).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e} (Linux only)"));
    // The name may hold spaces: fields are counted after its ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line; after the name the
    // first field (0) is field 3.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn status_field(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e} (Linux only)"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
}

/// The last `lines` lines of a file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Waits until `path` holds `needle` (panics after `timeout`).
pub async fn wait_for_log(path: &Path, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {} within {timeout:?}; tail:\n{}",
            path.display(),
            tail(path, 30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
