//! `cargo xtask dist [--debug] [--check] [--no-build]`: the Debian packages.
//!
//! - `vitrine-player`: the player, its unit, `/etc/vitrine/player.toml`.
//! - `vitrine-scheduler`: the scheduler, its unit, `/etc/vitrine/scheduler.toml`.
//! - `vitrine`: the command-line tool.
//! - `vitrine-kiosk`: a drop-in that makes `vitrine-player.service` start the player full screen
//!   on tty1 inside cage, a Wayland kiosk compositor, with no desktop.
//!
//! The packages are staged under `TARGET/dist/build/debian/PACKAGE/` (the layout dpkg-shlibdeps
//! expects) and built with `dpkg-deb --root-owner-group`, into `TARGET/dist/`. Binaries come from
//! `cargo build --release` (or, with `--debug`, from `cargo build --workspace --bins`). `--check`
//! then checks them the way CI does (see `check.rs`).

mod check;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::{cargo, run_command, target_dir, workspace_root};

const MAINTAINER: &str = "Vitrine maintainers <vitrine@example.invalid>";
const HOMEPAGE: &str = "https://example.invalid/vitrine";

pub fn run(arguments: &[String]) -> anyhow::Result<()> {
    let mut debug = false;
    let mut check = false;
    let mut no_build = false;
    for argument in arguments {
        match argument.as_str() {
            "--debug" => debug = true,
            "--check" => check = true,
            "--no-build" => no_build = true,
            other => bail!(
                "unknown option `{other}`; usage: cargo xtask dist [--debug] [--check] [--no-build]\n  \
                 --debug     package the debug binaries (quick to build; what CI checks)\n  \
                 --check     check the packages: contents, metadata, units, install and purge\n  \
                 --no-build  package the binaries already built, without running cargo"
            ),
        }
    }
    // dpkg-dev, and for the check systemd-analyze, cage and the packages' dependencies.
    crate::setup::run()?;
    let profile = if no_build {
        if debug {
            Profile::Debug
        } else {
            Profile::Release
        }
    } else if debug {
        // The same build as `cargo xtask test`'s, so neither rebuilds the other's binaries.
        run_command(cargo().args(["build", "--workspace", "--bins"]))?;
        Profile::Debug
    } else {
        run_command(cargo().args([
            "build",
            "--release",
            "--bins",
            "-p",
            "vitrine-player",
            "-p",
            "vitrine-scheduler",
            "-p",
            "vitrine",
        ]))?;
        Profile::Release
    };
    let built = build(profile)?;
    if check {
        check::run(&built)?;
    }
    Ok(())
}

/// Packages the debug binaries `cargo build --workspace --bins` made and checks the packages:
/// what `cargo xtask test` runs.
pub fn build_and_check_debug() -> anyhow::Result<()> {
    let built = build(Profile::Debug)?;
    check::run(&built)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    fn directory(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// One package as it is defined here; `check.rs` holds its own expectations of the result.
#[derive(Debug)]
pub struct Package {
    pub name: &'static str,
    /// The one binary it ships in /usr/bin, whose shared libraries become dependencies.
    pub binary: Option<&'static str>,
    pub section: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub depends: &'static [&'static str],
    pub recommends: &'static [&'static str],
    /// Files: workspace-relative source, installed path, mode.
    pub files: &'static [(&'static str, &'static str, u32)],
    pub conffiles: &'static [&'static str],
    /// Conffiles that may hold a token: 0640 root:vitrine after install.
    pub private: &'static [&'static str],
    pub units: &'static [&'static str],
    pub sysusers: &'static [&'static str],
    pub tmpfiles: &'static [&'static str],
    pub state_dirs: &'static [&'static str],
    /// Ships a drop-in for a unit another package has: systemd reloads on install and removal.
    pub reload: bool,
}

impl Package {
    /// The host's architecture for packages with a binary; `all` for the rest.
    pub fn architecture(&self, host: &str) -> String {
        if self.binary.is_some() {
            host.to_owned()
        } else {
            "all".to_owned()
        }
    }

    pub fn file_name(&self, version: &str, host: &str) -> String {
        format!("{}_{version}_{}.deb", self.name, self.architecture(host))
    }
}

/// Every package `cargo xtask dist` makes.
pub const PACKAGES: &[Package] = &[
    Package {
        name: "vitrine-player",
        binary: Some("vitrine-player"),
        section: "video",
        summary: "digital signage player",
        description: "Plays the playlists a Vitrine scheduler gives it on a screen, rendered on the \
            GPU (Vulkan or OpenGL), with video through GStreamer and sound through ALSA. It keeps \
            playing from its verified cache when the network is gone and reports every play back. \
            Runs as the vitrine-player service; install vitrine-kiosk to start it full screen at \
            boot with no desktop.",
        depends: &[
            "systemd",
            "gstreamer1.0-plugins-base",
            "gstreamer1.0-plugins-good",
            "gstreamer1.0-plugins-bad",
            "gstreamer1.0-libav",
            "gstreamer1.0-alsa",
            "libvulkan1",
            "mesa-vulkan-drivers",
            "libegl1",
            "libegl-mesa0",
            "libgl1-mesa-dri",
            "libgles2",
            "libwayland-client0",
            "libwayland-cursor0",
            "libwayland-egl1",
            "libxkbcommon0",
            "libx11-6",
            "libx11-xcb1",
            "libxcursor1",
            "libxrandr2",
            "libxi6",
            "libxkbcommon-x11-0",
            "fonts-noto-core",
            "tzdata",
            "ca-certificates",
        ],
        recommends: &["fonts-noto-cjk", "fonts-noto-color-emoji"],
        files: &[
            (
                "packaging/vitrine-player.service",
                "usr/lib/systemd/system/vitrine-player.service",
                0o644,
            ),
            ("packaging/player.toml", "etc/vitrine/player.toml", 0o644),
            (
                "packaging/sysusers.d/vitrine-player.conf",
                "usr/lib/sysusers.d/vitrine-player.conf",
                0o644,
            ),
            (
                "packaging/tmpfiles.d/vitrine-player.conf",
                "usr/lib/tmpfiles.d/vitrine-player.conf",
                0o644,
            ),
            (
                "packaging/debian/copyright.player",
                "usr/share/doc/vitrine-player/copyright",
                0o644,
            ),
            ("README.md", "usr/share/doc/vitrine-player/README.md", 0o644),
            (
                "docs/install.md",
                "usr/share/doc/vitrine-player/install.md",
                0o644,
            ),
        ],
        conffiles: &["/etc/vitrine/player.toml"],
        private: &["/etc/vitrine/player.toml"],
        units: &["vitrine-player.service"],
        sysusers: &["vitrine-player.conf"],
        tmpfiles: &["vitrine-player.conf"],
        state_dirs: &["/var/lib/vitrine-player"],
        reload: false,
    },
    Package {
        name: "vitrine-scheduler",
        binary: Some("vitrine-scheduler"),
        section: "net",
        summary: "digital signage scheduler (HQ)",
        description: "The HTTP service screens and staff talk to: screens, media, playlists, \
            campaigns, signed manifests and proof of play, in SQLite. Runs as the \
            vitrine-scheduler service on loopback, behind a TLS proxy.",
        depends: &["systemd", "tzdata", "ca-certificates"],
        recommends: &[],
        files: &[
            (
                "packaging/vitrine-scheduler.service",
                "usr/lib/systemd/system/vitrine-scheduler.service",
                0o644,
            ),
            (
                "packaging/scheduler.toml",
                "etc/vitrine/scheduler.toml",
                0o644,
            ),
            (
                "packaging/sysusers.d/vitrine-scheduler.conf",
                "usr/lib/sysusers.d/vitrine-scheduler.conf",
                0o644,
            ),
            (
                "packaging/tmpfiles.d/vitrine-scheduler.conf",
                "usr/lib/tmpfiles.d/vitrine-scheduler.conf",
                0o644,
            ),
            (
                "packaging/debian/copyright",
                "usr/share/doc/vitrine-scheduler/copyright",
                0o644,
            ),
            (
                "README.md",
                "usr/share/doc/vitrine-scheduler/README.md",
                0o644,
            ),
            (
                "docs/install.md",
                "usr/share/doc/vitrine-scheduler/install.md",
                0o644,
            ),
            (
                "docs/security.md",
                "usr/share/doc/vitrine-scheduler/security.md",
                0o644,
            ),
        ],
        conffiles: &["/etc/vitrine/scheduler.toml"],
        private: &["/etc/vitrine/scheduler.toml"],
        units: &["vitrine-scheduler.service"],
        sysusers: &["vitrine-scheduler.conf"],
        tmpfiles: &["vitrine-scheduler.conf"],
        state_dirs: &["/var/lib/vitrine-scheduler"],
        reload: false,
    },
    Package {
        name: "vitrine",
        binary: Some("vitrine"),
        section: "admin",
        summary: "digital signage command-line tool",
        description: "Checks playlists and pushes them with their media to a Vitrine scheduler, \
            explains what plays when and why, and manages stores, staff, screens, pairing, \
            campaigns and interrupts.",
        depends: &["ca-certificates"],
        recommends: &[],
        files: &[
            (
                "packaging/debian/copyright",
                "usr/share/doc/vitrine/copyright",
                0o644,
            ),
            ("README.md", "usr/share/doc/vitrine/README.md", 0o644),
            (
                "playlists/README.md",
                "usr/share/doc/vitrine/playlists.md",
                0o644,
            ),
        ],
        conffiles: &[],
        private: &[],
        units: &[],
        sysusers: &[],
        tmpfiles: &[],
        state_dirs: &[],
        reload: false,
    },
    Package {
        name: "vitrine-kiosk",
        binary: None,
        section: "video",
        summary: "digital signage player as a full-screen kiosk at boot",
        description: "Starts the Vitrine player full screen on tty1 at boot inside cage, a Wayland \
            kiosk compositor, with no desktop and no display manager, and starts both again when \
            they exit. It changes how vitrine-player.service runs (a drop-in) and takes tty1 from \
            the login prompt.",
        depends: &[
            "vitrine-player (= @VERSION@)",
            "cage",
            "libpam-systemd",
            "systemd",
        ],
        recommends: &[],
        files: &[
            (
                "packaging/kiosk/kiosk.conf",
                "usr/lib/systemd/system/vitrine-player.service.d/kiosk.conf",
                0o644,
            ),
            (
                "packaging/sysusers.d/vitrine-kiosk.conf",
                "usr/lib/sysusers.d/vitrine-kiosk.conf",
                0o644,
            ),
            (
                "packaging/debian/copyright",
                "usr/share/doc/vitrine-kiosk/copyright",
                0o644,
            ),
        ],
        conffiles: &[],
        private: &[],
        units: &[],
        sysusers: &["vitrine-kiosk.conf"],
        tmpfiles: &[],
        state_dirs: &[],
        reload: true,
    },
];

/// The packages built, for the check.
#[derive(Debug)]
pub struct Built {
    pub version: String,
    pub architecture: String,
    /// Package and its .deb, in the order of PACKAGES.
    pub debs: Vec<(&'static Package, PathBuf)>,
}

/// The Debian version of the workspace's: a pre-release `1.2.0-rc.1` sorts before `1.2.0` as
/// `1.2.0~rc.1`.
pub fn debian_version() -> String {
    env!("CARGO_PKG_VERSION").replace('-', "~")
}

pub fn host_architecture() -> anyhow::Result<String> {
    let output = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .context("cannot run `dpkg --print-architecture`: is this Debian?")?;
    if !output.status.success() {
        bail!("`dpkg --print-architecture` failed");
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn build(profile: Profile) -> anyhow::Result<Built> {
    let version = debian_version();
    let architecture = host_architecture()?;
    let dist = target_dir().join("dist");
    let staging = dist.join("build");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    std::fs::create_dir_all(staging.join("debian"))?;
    // dpkg-shlibdeps reads debian/control for the package names.
    let mut control = String::from("Source: vitrine\n");
    for package in PACKAGES {
        write!(
            control,
            "\nPackage: {}\nArchitecture: {}\n",
            package.name,
            if package.binary.is_some() {
                "any"
            } else {
                "all"
            }
        )?;
    }
    std::fs::write(staging.join("debian/control"), control)?;

    let mut debs = Vec::new();
    for package in PACKAGES {
        let deb = build_package(package, profile, &staging, &dist, &version, &architecture)
            .with_context(|| format!("building the {} package", package.name))?;
        debs.push((package, deb));
    }
    eprintln!(
        "xtask dist: wrote {} packages ({} binaries) to {}:",
        debs.len(),
        profile.directory(),
        dist.display()
    );
    for (_, deb) in &debs {
        let size = std::fs::metadata(deb)?.len();
        eprintln!(
            "  {} ({:.1} MB)",
            deb.file_name().unwrap_or_default().to_string_lossy(),
            size as f64 / 1e6
        );
    }
    Ok(Built {
        version,
        architecture,
        debs,
    })
}

fn build_package(
    package: &Package,
    profile: Profile,
    staging: &Path,
    dist: &Path,
    version: &str,
    architecture: &str,
) -> anyhow::Result<PathBuf> {
    let root = staging.join("debian").join(package.name);
    let control_dir = root.join("DEBIAN");
    create_dir(&control_dir)?;

    if let Some(binary) = package.binary {
        let source = target_dir().join(profile.directory()).join(binary);
        if !source.is_file() {
            bail!(
                "{} is missing; build it first (`cargo build{} --bins`)",
                source.display(),
                if profile == Profile::Release {
                    " --release"
                } else {
                    " --workspace"
                }
            );
        }
        let destination = root.join("usr/bin").join(binary);
        install(&source, &destination, 0o755)?;
        if profile == Profile::Release {
            // Debian packages ship stripped binaries; the debug ones stay as built, for the check.
            run_command(
                Command::new("strip")
                    .args(["--strip-unneeded", "--remove-section=.comment"])
                    .arg(&destination),
            )?;
        }
    }
    for (source, destination, mode) in package.files {
        install(
            &workspace_root().join(source),
            &root.join(destination),
            *mode,
        )?;
    }

    let mut depends: Vec<String> = Vec::new();
    if let Some(binary) = package.binary {
        depends.extend(shared_library_dependencies(staging, package.name, binary)?);
    }
    depends.extend(
        package
            .depends
            .iter()
            .map(|dependency| dependency.replace("@VERSION@", version)),
    );

    let mut control = String::new();
    writeln!(control, "Package: {}", package.name)?;
    writeln!(control, "Version: {version}")?;
    writeln!(
        control,
        "Architecture: {}",
        package.architecture(architecture)
    )?;
    writeln!(control, "Maintainer: {MAINTAINER}")?;
    writeln!(control, "Installed-Size: {}", installed_size(&root)?)?;
    writeln!(control, "Depends: {}", depends.join(", "))?;
    if !package.recommends.is_empty() {
        writeln!(control, "Recommends: {}", package.recommends.join(", "))?;
    }
    writeln!(control, "Section: {}", package.section)?;
    writeln!(control, "Priority: optional")?;
    writeln!(control, "Homepage: {HOMEPAGE}")?;
    writeln!(control, "Description: Vitrine {}", package.summary)?;
    writeln!(control, "{}", wrap(package.description, 78))?;
    write_file(&control_dir.join("control"), &control, 0o644)?;

    if !package.conffiles.is_empty() {
        let conffiles: String = package
            .conffiles
            .iter()
            .map(|file| format!("{file}\n"))
            .collect();
        write_file(&control_dir.join("conffiles"), &conffiles, 0o644)?;
    }
    for script in ["postinst", "prerm", "postrm"] {
        let template = workspace_root().join("packaging/debian").join(script);
        let text = std::fs::read_to_string(&template)
            .with_context(|| format!("cannot read {}", template.display()))?;
        let (shebang, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let variables = format!(
            "UNITS=\"{}\"\nSYSUSERS=\"{}\"\nTMPFILES=\"{}\"\nSTATE_DIRS=\"{}\"\nPRIVATE=\"{}\"\nRELOAD=\"{}\"\n",
            package.units.join(" "),
            package.sysusers.join(" "),
            package.tmpfiles.join(" "),
            package.state_dirs.join(" "),
            package.private.join(" "),
            if package.reload { "yes" } else { "no" },
        );
        write_file(
            &control_dir.join(script),
            &format!("{shebang}\n{variables}{rest}"),
            0o755,
        )?;
    }
    write_md5sums(&root)?;

    let deb = dist.join(package.file_name(version, architecture));
    let mut command = Command::new("dpkg-deb");
    command.args(["--root-owner-group", "--build"]);
    if profile == Profile::Debug {
        // Hundreds of megabytes of debug binaries: fast compression, for the check.
        command.args(["-Zgzip", "-z1"]);
    }
    command
        .arg(&root)
        .arg(&deb)
        .stdout(std::process::Stdio::null());
    run_command(&mut command)?;
    Ok(deb)
}

/// `dpkg-shlibdeps` on the staged binary: the packages of the shared libraries it links.
fn shared_library_dependencies(
    staging: &Path,
    package: &str,
    binary: &str,
) -> anyhow::Result<Vec<String>> {
    let output = Command::new("dpkg-shlibdeps")
        .args(["-O", "--ignore-missing-info"])
        .arg(format!("debian/{package}/usr/bin/{binary}"))
        .current_dir(staging)
        .output()
        .context("cannot run dpkg-shlibdeps (package dpkg-dev; `cargo xtask setup` installs it)")?;
    if !output.status.success() {
        bail!(
            "dpkg-shlibdeps failed on {binary}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("shlibs:Depends="))
        .with_context(|| {
            format!("dpkg-shlibdeps printed no shlibs:Depends for {binary}: {stdout}")
        })?;
    Ok(line.split(", ").map(str::to_owned).collect())
}

/// What `dpkg-gencontrol` computes: KiB per file, rounded up, and one per directory.
fn installed_size(root: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in walk(root)? {
        if entry.starts_with(root.join("DEBIAN")) {
            continue;
        }
        let metadata = std::fs::symlink_metadata(&entry)?;
        total += if metadata.is_file() {
            metadata.len().div_ceil(1024)
        } else {
            1
        };
    }
    Ok(total)
}

fn write_md5sums(root: &Path) -> anyhow::Result<()> {
    let mut files: Vec<String> = walk(root)?
        .into_iter()
        .filter(|path| path.is_file() && !path.starts_with(root.join("DEBIAN")))
        .map(|path| {
            path.strip_prefix(root)
                .map(|relative| relative.to_string_lossy().into_owned())
        })
        .collect::<Result<_, _>>()?;
    files.sort();
    let output = Command::new("md5sum")
        .args(&files)
        .current_dir(root)
        .output()
        .context("cannot run md5sum")?;
    if !output.status.success() {
        bail!("md5sum failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    write_file(
        &root.join("DEBIAN/md5sums"),
        &String::from_utf8_lossy(&output.stdout),
        0o644,
    )
}

/// Every path under `root` (not `root` itself), directories before what they hold.
pub fn walk(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&directory)
            .with_context(|| format!("cannot list {}", directory.display()))?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            if std::fs::symlink_metadata(&path)?.is_dir() {
                pending.push(path.clone());
            }
            paths.push(path);
        }
    }
    Ok(paths)
}

/// A control file's long description: lines of at most `width`, each starting with a space.
fn wrap(text: &str, width: usize) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        line.push(' ');
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    // Every directory in a package is 0755, whatever the umask.
    let mut current = Some(path);
    while let Some(directory) = current {
        if directory.ends_with("debian") {
            break;
        }
        set_mode(directory, 0o755)?;
        current = directory.parent();
    }
    Ok(())
}

fn install(source: &Path, destination: &Path, mode: u32) -> anyhow::Result<()> {
    create_dir(destination.parent().context("a file has a folder")?)?;
    std::fs::copy(source, destination).with_context(|| {
        format!(
            "cannot copy {} to {}",
            source.display(),
            destination.display()
        )
    })?;
    set_mode(destination, mode)
}

fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}
