//! A private S3-compatible server for the scheduler's media tests in a bucket: moto's server mode
//! (`moto[server]` from PyPI), installed once into a virtual environment under the target folder,
//! started on a free loopback port in a scratch folder with the test bucket created, and stopped
//! when [`Server`] is dropped. It keeps objects in memory and checks no signature, so the tests'
//! credentials are placeholders.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The bucket the tests keep media in (`tests/common/mod.rs` names the same).
pub const BUCKET: &str = "vitrine-test";

/// What pip installs; moto 5 serves S3 with multipart uploads, ranges and listings.
const PACKAGE: &str = "moto[server]>=5.1,<6";

/// How long the server may take to accept connections (it imports a lot of Python at start).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server of its own.
pub struct Server {
    child: Child,
    folder: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl Server {
    /// Installs moto if needed, starts it in `folder` (emptied first) on a free loopback port and
    /// creates [`BUCKET`].
    pub fn start(folder: &Path) -> anyhow::Result<Self> {
        let moto_server = install()?;
        if folder.exists() {
            std::fs::remove_dir_all(folder)
                .with_context(|| format!("cannot empty {}", folder.display()))?;
        }
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let port = free_port()?;
        let log = std::fs::File::create(folder.join("server.log"))?;
        let child = Command::new(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(folder)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", moto_server.display()))?;
        // From here a failure drops it, which stops the server.
        let mut server = Self {
            child,
            folder: folder.to_path_buf(),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the S3 test server exited ({status}); its log is {}",
                    folder.join("server.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("the S3 test server does not accept connections on port {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = request(port, "PUT", &format!("/{BUCKET}"))?;
        if !status.contains(" 200 ") {
            bail!("creating the bucket {BUCKET} on the S3 test server: {status}");
        }
        eprintln!(
            "xtask: S3 test server (moto) at {} with bucket {BUCKET}",
            server.endpoint
        );
        Ok(server)
    }

    /// The environment the tests run in: the server for the harness, and the endpoint, plain
    /// HTTP and placeholder credentials for the scheduler's S3 client, which reads the standard
    /// `AWS_*` variables.
    pub fn env(&self) -> [(&'static str, String); 6] {
        [
            ("VITRINE_TEST_S3", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "vitrine-test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "vitrine-test".to_owned()),
        ]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// `cargo xtask s3`: a private S3 server for running the media tests on it by hand, stopped when
/// Enter is pressed.
pub fn serve() -> anyhow::Result<()> {
    let server =
        Server::start(&std::env::temp_dir().join(format!("vitrine-s3-{}", std::process::id())))?;
    let exports: Vec<String> = server
        .env()
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    println!(
        "An S3-compatible server is running with bucket {BUCKET}; in another shell:\n\n  \
         {} cargo test -p vitrine-scheduler --test media\n\n\
         or start a scheduler with those AWS_* variables and --media s3://{BUCKET}/PREFIX\n\n\
         Press Enter to stop it.",
        exports.join(" ")
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(())
}

/// moto's `moto_server`, installed into `TARGET/moto` the first time. A marker written once pip
/// succeeded says the install is whole; without it the folder is made again.
fn install() -> anyhow::Result<PathBuf> {
    let venv = crate::target_dir().join("moto");
    let moto_server = venv.join("bin/moto_server");
    let marker = venv.join("installed");
    if marker.is_file() && moto_server.is_file() {
        return Ok(moto_server);
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("cannot empty {}", venv.display()))?;
    }
    eprintln!("xtask: installing {PACKAGE} into {}", venv.display());
    crate::run_command(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("making a Python virtual environment (Debian: python3-venv)")?;
    crate::run_command(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PACKAGE,
    ]))
    .with_context(|| format!("installing {PACKAGE} from PyPI"))?;
    if !moto_server.is_file() {
        bail!("{PACKAGE} installed no {}", moto_server.display());
    }
    std::fs::write(&marker, PACKAGE)?;
    Ok(moto_server)
}

/// One request with no body and no signature (moto checks none); the status line it answers.
fn request(port: u16, method: &str, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free port")?
        .local_addr()?
        .port())
}
