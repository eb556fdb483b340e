//! A private PostgreSQL server for the tests and benchmarks that run on the second backend: Debian's
//! `postgresql` binaries, a fresh cluster in a scratch folder, listening on loopback only, stopped
//! when [`Server`] is dropped. CI runs as root and PostgreSQL refuses to, so as root the cluster
//! belongs to the `postgres` user the Debian package creates and its commands run through `runuser`.
//!
//! The tests' server also speaks TLS ([`Server::start_with_tls`]): a certificate for 127.0.0.1
//! signed by an authority made for it with `openssl`, whose certificate the tests are given as
//! `VITRINE_TEST_POSTGRES_CA` to connect with `sslmode=verify-full`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The role the cluster is created with; tests connect as it, trusted on loopback.
const ROLE: &str = "vitrine";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running PostgreSQL cluster of its own.
pub struct Server {
    folder: PathBuf,
    bin: PathBuf,
    /// `postgres://vitrine@127.0.0.1:PORT/postgres`
    pub url: String,
    /// The authority that signed the server's certificate, when it speaks TLS.
    pub ca: Option<PathBuf>,
}

impl Server {
    /// Creates a cluster in `folder` (emptied first) and starts it on a free loopback port.
    pub fn start(folder: &Path) -> anyhow::Result<Self> {
        Self::start_as(folder, false)
    }

    /// [`Server::start`], with TLS on beside plain connections.
    pub fn start_with_tls(folder: &Path) -> anyhow::Result<Self> {
        Self::start_as(folder, true)
    }

    fn start_as(folder: &Path, tls: bool) -> anyhow::Result<Self> {
        let bin = binaries()?;
        if folder.exists() {
            std::fs::remove_dir_all(folder)
                .with_context(|| format!("cannot empty {}", folder.display()))?;
        }
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        if is_root() {
            // The server's own user must own its files and the socket folder.
            run(Command::new("chown").arg("postgres").arg(folder))?;
        }
        let data = folder.join("data");
        run(as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", ROLE, "--auth=trust", "-E", "UTF8", "--no-locale"])
            .arg("--no-sync"))?;
        let port = free_port()?;
        // fsync off: a test cluster is thrown away, and the suite runs on 2 cores.
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=400",
            folder.display()
        );
        let ca = if tls {
            let certificates = certificates(folder)?;
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                certificates.certificate.display(),
                certificates.key.display()
            ));
            Some(certificates.ca)
        } else {
            None
        };
        let server = Self {
            folder: folder.to_path_buf(),
            bin,
            url: format!("postgres://{ROLE}@127.0.0.1:{port}/postgres"),
            ca,
        };
        run(as_server_user(&server.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(folder.join("server.log"))
            .args(["-w", "-t"])
            .arg(START_TIMEOUT.as_secs().to_string())
            .arg("start"))
        .with_context(|| {
            format!(
                "PostgreSQL did not start; its log is {}",
                folder.join("server.log").display()
            )
        })?;
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("PostgreSQL started but does not accept connections on port {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("xtask: PostgreSQL running at {}", server.url);
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let stopped = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.folder.join("data"))
            .args(["-m", "immediate", "stop"])
            .status();
        if stopped.is_ok_and(|status| status.success()) {
            let _ = std::fs::remove_dir_all(&self.folder);
        } else {
            eprintln!(
                "xtask: could not stop the PostgreSQL server in {}",
                self.folder.display()
            );
        }
    }
}

struct Certificates {
    /// The authority's certificate, for clients.
    ca: PathBuf,
    /// The server's certificate and key, for the server.
    certificate: PathBuf,
    key: PathBuf,
}

/// An authority and a certificate for 127.0.0.1 that it signed, valid for a week, made with
/// `openssl` in `folder`; the key is the server user's alone, as PostgreSQL demands.
fn certificates(folder: &Path) -> anyhow::Result<Certificates> {
    let tls = folder.join("tls");
    std::fs::create_dir_all(&tls).with_context(|| format!("cannot create {}", tls.display()))?;
    let path = |name: &str| tls.join(name);
    let key_options = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-days",
            "7",
            "-subj",
            "/CN=Vitrine test authority",
        ])
        .args(key_options)
        .arg("-keyout")
        .arg(path("ca.key"))
        .arg("-out")
        .arg(path("ca.pem")))
    .context("cannot make the test server's authority; `cargo xtask setup` installs openssl")?;
    run(Command::new("openssl")
        .args(["req", "-new", "-subj", "/CN=127.0.0.1"])
        .args(key_options)
        .arg("-keyout")
        .arg(path("server.key"))
        .arg("-out")
        .arg(path("server.csr")))?;
    std::fs::write(
        path("server.ext"),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
         keyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n",
    )?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "7", "-set_serial", "1"])
        .arg("-in")
        .arg(path("server.csr"))
        .arg("-CA")
        .arg(path("ca.pem"))
        .arg("-CAkey")
        .arg(path("ca.key"))
        .arg("-extfile")
        .arg(path("server.ext"))
        .arg("-out")
        .arg(path("server.pem")))?;
    if is_root() {
        run(Command::new("chown").args(["-R", "postgres"]).arg(&tls))?;
    }
    std::fs::set_permissions(
        path("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    Ok(Certificates {
        ca: path("ca.pem"),
        certificate: path("server.pem"),
        key: path("server.key"),
    })
}

/// `cargo xtask postgres`: a private server for running tests on PostgreSQL by hand, stopped and
/// removed when Enter is pressed.
pub fn serve() -> anyhow::Result<()> {
    crate::setup::run()?;
    let server = Server::start_with_tls(
        &std::env::temp_dir().join(format!("vitrine-postgres-{}", std::process::id())),
    )?;
    let ca = server
        .ca
        .as_deref()
        .map(|ca| ca.display().to_string())
        .unwrap_or_default();
    println!(
        "PostgreSQL is running; in another shell:\n\n  \
         VITRINE_TEST_POSTGRES={url} VITRINE_TEST_POSTGRES_CA={ca} cargo test -p vitrine-scheduler\n\n\
         or start a scheduler with --database {url}\n(with TLS checked: \
         --database '{url}?sslmode=verify-full&sslrootcert={ca}')\n\nPress Enter to stop it.",
        url = server.url,
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(())
}

/// The newest installed server's `bin` folder (`/usr/lib/postgresql/15/bin`).
fn binaries() -> anyhow::Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .with_context(|| {
            format!(
                "no PostgreSQL server in {}; `cargo xtask setup` installs Debian's postgresql",
                root.display()
            )
        })?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            path.join("bin/initdb")
                .exists()
                .then(|| (version, path.join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .with_context(|| format!("no initdb under {}", root.display()))
}

fn is_root() -> bool {
    // The effective uid is the second number on the `Uid:` line; root's is 0.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// `program`, run as the `postgres` user when this process is root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free port")?
        .local_addr()?
        .port())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
