//! A real SMTP server for tests: `scripts/smtp_sink.py` (aiosmtpd) on a local port, and its
//! received messages decoded by Python's `email` package.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// A running `scripts/smtp_sink.py`; stopped when dropped.
pub struct Sink {
    child: Child,
    dir: tempfile::TempDir,
}

/// Path of the sink script.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp_sink.py")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

impl Sink {
    /// Starts the sink on `port`; panics when it cannot (aiosmtpd missing).
    pub fn start(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut child = Command::new("python3")
            .arg(script())
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start (is aiosmtpd installed? scripts/setup.sh --smtp-sink installs it)"
        );
        Self { child, dir }
    }

    /// Waits up to `timeout` for at least `n` messages; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<(Vec<String>, serde_json::Value)> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Received messages in arrival order: envelope recipients and the decoded message.
    pub fn messages(&self) -> Vec<(Vec<String>, serde_json::Value)> {
        let mut numbers: Vec<u32> = std::fs::read_dir(self.dir.path())
            .expect("the sink directory")
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".rcpt")?.parse().ok())
            .collect();
        numbers.sort();
        numbers
            .into_iter()
            .map(|n| {
                let rcpt = std::fs::read_to_string(self.dir.path().join(format!("{n}.rcpt"))).expect("recipients file");
                (rcpt.lines().map(str::to_owned).collect(), decode(&self.dir.path().join(format!("{n}.eml"))))
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes a stored message with Python's `email` package (MIME, charsets, transfer encodings).
pub fn decode(path: &Path) -> serde_json::Value {
    let out = Command::new("python3").arg(script()).arg("--decode").arg(path).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the decoder prints JSON")
}
