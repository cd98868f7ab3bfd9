//! [`ServerProcess`]: the real binary as a child process, the way an operator
//! (or a crash) treats it. One harness for the CLI tests, the benchmark and
//! the reliability suite.
//!
//! Signals go through `rustix` (`kill(2)`), not a `kill` program: no extra
//! process, no PATH lookup, and an error when the signal cannot be sent.
//! Output is read by threads as it is written, so a chatty child never blocks
//! on a full pipe, and a test can wait for a line (the "listening on" log).
//! Waits come in a blocking form (plain `#[test]`s) and an async one (tokio
//! callers), both polling `try_wait` so neither holds a runtime thread.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What happens to one output stream of the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// Kept in memory, readable while the child runs and after it exits.
    Collect,
    /// Thrown away.
    Discard,
    /// Written to this process's own stream (shown with the benchmark's output).
    Inherit,
}

/// The signals the harness sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Graceful shutdown, as a service manager asks.
    Term,
    /// Ctrl-C.
    Int,
    /// A crash: the process gets no chance to clean up.
    Kill,
}

impl Signal {
    fn to_rustix(self) -> rustix::process::Signal {
        match self {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Int => rustix::process::Signal::INT,
            Signal::Kill => rustix::process::Signal::KILL,
        }
    }
}

/// How a stopped child ended, with everything it wrote to collected streams.
#[derive(Debug)]
pub struct Exited {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// False when it outlived the grace period and had to be killed.
    pub stopped_in_time: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A child process, killed (SIGKILL) and reaped when dropped, so a failing
/// test leaves no server behind.
pub struct ServerProcess {
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl ServerProcess {
    /// Starts `cmd` with stdin closed and the two output streams as given.
    pub fn spawn(mut cmd: Command, stdout: Capture, stderr: Capture) -> std::io::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(stdio(stdout))
            .stderr(stdio(stderr));
        let mut child = cmd.spawn()?;
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(s) = child.stdout.take() {
            readers.push(collect(s, out.clone()));
        }
        if let Some(s) = child.stderr.take() {
            readers.push(collect(s, err.clone()));
        }
        Ok(ServerProcess {
            child: Some(child),
            stdout: out,
            stderr: err,
            readers,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `signal`; an error when the process is already reaped or gone.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        let raw = i32::try_from(self.pid()).map_err(std::io::Error::other)?;
        let pid = rustix::process::Pid::from_raw(raw)
            .ok_or_else(|| std::io::Error::other("the process has been reaped"))?;
        rustix::process::kill_process(pid, signal.to_rustix()).map_err(std::io::Error::from)
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => c.try_wait(),
            None => Ok(None),
        }
    }

    /// What the child wrote to stdout so far (when collected).
    pub fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    /// What the child wrote to stderr so far (when collected).
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// The first collected stdout line for which `find` gives a value.
    pub fn find_in_stdout<T>(&self, find: impl Fn(&str) -> Option<T>) -> Option<T> {
        lock(&self.stdout).lines().find_map(find)
    }

    /// Blocks until a stdout line gives a value; an error (with the output so
    /// far) when the child exits first or `timeout` passes.
    pub fn wait_for_stdout<T>(
        &mut self,
        find: impl Fn(&str) -> Option<T>,
        timeout: Duration,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        poll_blocking(|| self.poll_stdout(&find, deadline).transpose())
    }

    /// [`ServerProcess::wait_for_stdout`] for async callers.
    pub async fn wait_for_stdout_async<T>(
        &mut self,
        find: impl Fn(&str) -> Option<T>,
        timeout: Duration,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        poll_async(|| self.poll_stdout(&find, deadline).transpose()).await
    }

    fn poll_stdout<T>(
        &mut self,
        find: &impl Fn(&str) -> Option<T>,
        deadline: Instant,
    ) -> Result<Option<T>, String> {
        if let Some(found) = self.find_in_stdout(find) {
            return Ok(Some(found));
        }
        let exited = self.try_wait().map_err(|e| e.to_string())?;
        if exited.is_some() || Instant::now() > deadline {
            // Let the readers catch the last lines before reporting them.
            std::thread::sleep(Duration::from_millis(100));
            let why = match exited {
                Some(status) => format!("exited ({status})"),
                None => "timed out".to_owned(),
            };
            return Err(format!(
                "the child {why} before the expected line\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            ));
        }
        Ok(None)
    }

    /// SIGTERM, then up to `grace` for the exit, then SIGKILL.
    pub fn stop(mut self, grace: Duration) -> Exited {
        let deadline = self.begin_stop(grace);
        let ended = poll_blocking(|| self.poll_stop(deadline));
        self.end_stop(ended)
    }

    /// [`ServerProcess::stop`] for async callers.
    pub async fn stop_async(mut self, grace: Duration) -> Exited {
        let deadline = self.begin_stop(grace);
        let ended = poll_async(|| self.poll_stop(deadline)).await;
        self.end_stop(ended)
    }

    /// Sends SIGTERM; returns when the grace period ends.
    fn begin_stop(&self, grace: Duration) -> Instant {
        let _ = self.signal(Signal::Term);
        Instant::now() + grace
    }

    /// One look during a stop: `Some(Some(status))` once the child exited,
    /// `Some(None)` when the grace period is over, `None` to keep waiting.
    fn poll_stop(&mut self, deadline: Instant) -> Option<Option<ExitStatus>> {
        if let Ok(Some(status)) = self.try_wait() {
            return Some(Some(status));
        }
        (Instant::now() >= deadline).then_some(None)
    }

    /// The exit in time, or SIGKILL after the grace period.
    fn end_stop(mut self, ended: Option<ExitStatus>) -> Exited {
        match ended {
            Some(status) => self.exited(Some(status), true),
            None => {
                let status = self.kill();
                self.exited(status, false)
            }
        }
    }

    /// SIGKILL (a crash) and reap; returns the status if there was a child.
    /// Reaping after SIGKILL takes microseconds, so it blocks.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let raw = i32::try_from(child.id()).ok();
        if let Some(pid) = raw.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        child.wait().ok()
    }

    fn exited(mut self, status: Option<ExitStatus>, stopped_in_time: bool) -> Exited {
        self.child = None;
        // The pipes close when the child exits, so the readers end.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Exited {
            code: status.and_then(|s| s.code()),
            stopped_in_time,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How often a wait looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// The one blocking wait loop: `poll` until it gives a value.
fn poll_blocking<T>(mut poll: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(done) = poll() {
            return done;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// The one async wait loop: the same, sleeping on the runtime's timer.
async fn poll_async<T>(mut poll: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(done) = poll() {
            return done;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn stdio(c: Capture) -> Stdio {
    match c {
        Capture::Collect => Stdio::piped(),
        Capture::Discard => Stdio::null(),
        Capture::Inherit => Stdio::inherit(),
    }
}

fn lock(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    // A reader thread cannot panic while holding it; recover anyway.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = lock(&into);
            text.push_str(&line);
            text.push('\n');
        }
    })
}

/// The port in `…{marker}HOST:PORT…` (e.g. after `listening on http://`).
pub fn port_after(line: &str, marker: &str) -> Option<u16> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let authority: String = rest
        .chars()
        .take_while(|c| !matches!(c, '/' | '"' | ' '))
        .collect();
    authority.rsplit(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_after_the_marker() {
        let line = r#"{"msg":"listening on http://127.0.0.1:4321","x":1}"#;
        assert_eq!(port_after(line, "listening on http://"), Some(4321));
        assert_eq!(port_after("nothing here", "listening on http://"), None);
    }

    /// A shell running `script`, once it has printed `ready`.
    fn ready_shell(script: &str, stderr: Capture) -> ServerProcess {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        let mut p = ServerProcess::spawn(cmd, Capture::Collect, stderr).unwrap();
        p.wait_for_stdout(|l| (l == "ready").then_some(()), Duration::from_secs(10))
            .unwrap();
        p
    }

    #[test]
    fn sigterm_is_delivered_and_the_exit_is_reported_with_the_output() {
        // A shell that exits 7 on SIGTERM.
        let p = ready_shell(
            "trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
            Capture::Collect,
        );
        let exited = p.stop(Duration::from_secs(10));
        assert!(exited.stopped_in_time, "{exited:?}");
        assert_eq!(exited.code, Some(7), "{exited:?}");
        assert!(exited.stdout.contains("bye"), "{exited:?}");
    }

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_after_the_grace() {
        let p = ready_shell(
            "trap '' TERM; echo ready; while :; do sleep 0.05; done",
            Capture::Discard,
        );
        let exited = p.stop(Duration::from_millis(300));
        assert!(!exited.stopped_in_time);
        assert_eq!(exited.code, None, "ended by SIGKILL");
    }

    #[tokio::test]
    async fn the_async_stop_also_kills_a_child_that_ignores_sigterm() {
        let p = ready_shell(
            "trap '' TERM; echo ready; while :; do sleep 0.05; done",
            Capture::Discard,
        );
        let exited = p.stop_async(Duration::from_millis(300)).await;
        assert!(!exited.stopped_in_time);
        assert_eq!(exited.code, None, "ended by SIGKILL");
    }

    #[test]
    fn waiting_for_a_line_reports_an_early_exit() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo starting; exit 3"]);
        let mut p = ServerProcess::spawn(cmd, Capture::Collect, Capture::Discard).unwrap();
        let err = p
            .wait_for_stdout(
                |l| l.contains("never").then_some(()),
                Duration::from_secs(10),
            )
            .unwrap_err();
        assert!(err.contains("exited") && err.contains("starting"), "{err}");
    }
}
