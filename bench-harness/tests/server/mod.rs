//! What the CLI tests that start servers share: the harness binary, scratch
//! directories, `ringtide-bench serve` children, and reading what a run left.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub fn bench(args: &[&str]) -> Output {
    harness()
        .args(args)
        .output()
        .expect("the harness binary runs")
}

/// `ringtide-bench`, with no `RINGTIDE_DRIVER` to override `--driver`.
pub fn harness() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringtide-bench"));
    command.env_remove("RINGTIDE_DRIVER");
    command
}

pub fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ringtide-bench-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `ringtide-bench serve` child, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `serve` with `args`, its stderr going to `stderr`.
    pub fn spawn(args: &[&str], stderr: Stdio) -> Server {
        let mut child = harness()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().parse().expect("the server prints its address");
        Server { child, addr }
    }

    /// Stops the server with SIGTERM, as a person would, checks it exits cleanly, and
    /// returns what it wrote to stderr if that was piped.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        assert!(
            status.success(),
            "the server exits cleanly on SIGTERM: {status}: {stderr}"
        );
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn check(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

pub fn read_json(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
