//! The `vitrine-scheduler` binary under a `Type=notify` unit, with the test standing in for systemd:
//! it owns the `NOTIFY_SOCKET` datagram socket and sets a short `WATCHDOG_USEC`. READY comes once
//! the API answers, pets come while the scheduler can answer, stop while its database is locked
//! away from it, come back once the lock is released, and SIGTERM is announced with STOPPING. Logs
//! go to journald only when stderr is the stream `JOURNAL_STREAM` names.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The watchdog period the test asks for: the scheduler pets every half of it.
const WATCHDOG_USEC: &str = "2000000";
/// How long to wait for a message that must come; generous, for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

struct Notifications {
    socket: UnixDatagram,
}

impl Notifications {
    /// The next datagram, or a panic naming `waiting_for` after [`PATIENCE`].
    fn next(&self, waiting_for: &str) -> String {
        self.socket
            .set_read_timeout(Some(PATIENCE))
            .expect("read timeout");
        let mut buffer = [0_u8; 4096];
        let length = self.socket.recv(&mut buffer).unwrap_or_else(|error| {
            panic!("no notification while waiting for {waiting_for}: {error}")
        });
        String::from_utf8(buffer[..length].to_vec()).expect("notifications are text")
    }

    /// Reads datagrams until one satisfies `wanted`; returns those read before it, and it.
    fn until(&self, waiting_for: &str, wanted: impl Fn(&str) -> bool) -> (Vec<String>, String) {
        let deadline = Instant::now() + PATIENCE;
        let mut before = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "no notification {waiting_for} came; got {before:#?}"
            );
            let message = self.next(waiting_for);
            if wanted(&message) {
                return (before, message);
            }
            before.push(message);
        }
    }
}

fn is_pet(message: &str) -> bool {
    message.lines().any(|line| line == "WATCHDOG=1")
}

fn is_not_answering(message: &str) -> bool {
    message
        .lines()
        .any(|line| line.starts_with("STATUS=not answering: "))
}

fn healthz(address: &str) -> String {
    get(address, "/healthz")
}

fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    response
}

struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ready_after_binding_pets_only_while_the_database_answers_and_stopping_on_sigterm() {
    let folder = tempfile::tempdir().expect("temp dir");
    let data_dir = folder.path().join("data");
    let socket_path = folder.path().join("notify.sock");
    let notifications = Notifications {
        socket: UnixDatagram::bind(&socket_path).expect("bind NOTIFY_SOCKET"),
    };
    let mut scheduler = Scheduler(
        Command::new(env!("CARGO_BIN_EXE_vitrine-scheduler"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(&data_dir)
            .env("VITRINE_ADMIN_TOKEN", "notify-test-admin-token-0123456789")
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", WATCHDOG_USEC)
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("scheduler starts"),
    );
    let mut stdout = BufReader::new(scheduler.0.stdout.take().expect("stdout"));

    // READY is the first thing sent, and by then the API line is out and the API answers.
    let first = notifications.next("READY=1");
    assert!(first.lines().any(|line| line == "READY=1"), "{first:?}");
    assert!(
        first
            .lines()
            .any(|line| line.starts_with("STATUS=serving http://127.0.0.1:")),
        "{first:?}"
    );
    let mut line = String::new();
    stdout.read_line(&mut line).expect("listening line");
    let address = line
        .trim_end()
        .strip_prefix("vitrine-scheduler listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        healthz(&address).starts_with("HTTP/1.1 200 OK\r\n"),
        "the API answers once READY is sent"
    );
    // The metrics listener is announced on the next line, and serves the exposition.
    let mut line = String::new();
    stdout.read_line(&mut line).expect("metrics line");
    let metrics = line
        .trim_end()
        .strip_prefix("vitrine-scheduler metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
        .to_owned();
    let scrape = get(&metrics, "/metrics");
    assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"), "{scrape}");
    assert!(
        scrape.contains("\nvitrine_scheduler_build_info{version=\"") && scrape.ends_with("# EOF\n"),
        "{scrape}"
    );

    // Pets come, each with a status saying what is served.
    for _ in 0..3 {
        let (before, pet) = notifications.until("WATCHDOG=1", is_pet);
        assert!(before.is_empty(), "only pets while healthy: {before:#?}");
        assert!(
            pet.lines().any(|line| line
                == format!(
                    "STATUS=serving http://{address}; 0 screens online, 0 event streams open"
                )),
            "{pet:?}"
        );
    }

    // Another process holds the database's write lock: the scheduler can take no heartbeat or
    // proof of play, so the pets must stop (systemd then restarts it after WatchdogSec).
    let mut blocker = rusqlite::Connection::open(data_dir.join(vitrine_scheduler::DATABASE_FILE))
        .expect("open the database");
    blocker
        .busy_timeout(PATIENCE)
        .expect("wait for a write in progress");
    let lock = blocker
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .expect("take the write lock");
    // A probe that finished just before the lock may still land: at most one pet, then the
    // failure, within one probe interval.
    let (pets_after_lock, _) = notifications.until("a failed probe", is_not_answering);
    assert!(
        pets_after_lock
            .iter()
            .filter(|message| is_pet(message))
            .count()
            <= 1,
        "pets continued after the database was locked: {pets_after_lock:#?}"
    );
    // Three more probe periods fail, and none of them pets.
    for _ in 0..3 {
        let message = notifications.next("a failed probe");
        assert!(
            !is_pet(&message),
            "a pet while the database is locked: {message:?}"
        );
        assert!(
            message
                .lines()
                .any(|line| line.starts_with("STATUS=not answering: the database took no write")),
            "the status names what failed: {message:?}"
        );
    }

    // Released: the pets come back.
    lock.rollback().expect("release the write lock");
    let (while_recovering, _) = notifications.until("WATCHDOG=1 after the release", is_pet);
    assert!(
        while_recovering
            .iter()
            .all(|message| is_not_answering(message)),
        "{while_recovering:#?}"
    );

    // SIGTERM: STOPPING, then a clean exit.
    let killed = Command::new("kill")
        .args(["-TERM", &scheduler.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let (_, stopping) = notifications.until("STOPPING=1", |message| {
        message.lines().any(|line| line == "STOPPING=1")
    });
    assert!(
        stopping
            .lines()
            .any(|line| line == "STATUS=shutting down; finishing requests in flight"),
        "{stopping:?}"
    );
    let status = scheduler.0.wait().expect("scheduler exits");
    assert!(status.success(), "{status:?}");
}

/// Runs the binary with stderr going to a file and `JOURNAL_STREAM` set as `journal_stream`
/// says, until it serves; returns what it wrote to stderr.
fn stderr_of_a_run(journal_stream: impl Fn(&std::fs::Metadata) -> String) -> String {
    let folder = tempfile::tempdir().expect("temp dir");
    let stderr_path = folder.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let stream = journal_stream(&stderr.metadata().expect("metadata"));
    let mut scheduler = Scheduler(
        Command::new(env!("CARGO_BIN_EXE_vitrine-scheduler"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(folder.path().join("data"))
            .env("VITRINE_ADMIN_TOKEN", "journal-test-admin-token-0123456789")
            .env("JOURNAL_STREAM", stream)
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("scheduler starts"),
    );
    let mut stdout = BufReader::new(scheduler.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("listening line");
    assert!(
        line.starts_with("vitrine-scheduler listening on "),
        "{line:?}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &scheduler.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    assert!(scheduler.0.wait().expect("exits").success());
    std::fs::read_to_string(&stderr_path).expect("read stderr")
}

#[test]
fn logs_go_to_the_journal_only_when_stderr_is_the_journal_stream() {
    use std::os::unix::fs::MetadataExt;
    // A unit started from a shell inherits JOURNAL_STREAM, but its stderr is not that stream:
    // logs stay on stderr, as text.
    let elsewhere = stderr_of_a_run(|stderr| format!("{}:{}", stderr.dev(), stderr.ino() + 1));
    assert!(elsewhere.contains("serving"), "{elsewhere}");
    assert!(!elsewhere.contains("journald"), "{elsewhere}");

    // Stderr is the stream systemd named: logs go to journald, or, where none listens (a
    // container, this test machine), to stderr after saying so.
    let journal = stderr_of_a_run(|stderr| format!("{}:{}", stderr.dev(), stderr.ino()));
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        assert!(
            !journal.contains("serving"),
            "with journald listening, logs go to it: {journal}"
        );
    } else {
        assert!(
            journal.starts_with("cannot reach journald ("),
            "the fallback is said first: {journal}"
        );
        assert!(journal.contains("serving"), "{journal}");
    }
}
