//! The package check (`cargo xtask dist --check`, and `cargo xtask test`): what a Debian user
//! expects of the packages, written here independently of how `dist.rs` builds them.
//!
//! 1. `dpkg-deb --field` and `--contents` of each package: the control fields, the dependencies,
//!    every path with its mode and owner and no path besides, conffiles and maintainer scripts.
//! 2. An install into a scratch root (`dpkg --root`, maintainer scripts run with `DPKG_ROOT`),
//!    whose dpkg database is this machine's, so dependencies must be real installed packages: the
//!    user `vitrine` and its groups, the 0700 state folders it owns, the conffiles (0640, group
//!    vitrine), the units enabled, and nothing started (the `systemctl`, `deb-systemd-invoke`,
//!    `invoke-rc.d` and `service` the scripts find first only record their calls).
//!    Then the same packages installed again, as an upgrade would: an edited conffile, a service
//!    the administrator disabled and the state are all kept.
//! 3. `systemd-analyze verify --root` on the installed units, the kiosk drop-in included: any
//!    complaint about them fails.
//! 4. A removal (binaries gone, configuration and state kept, units masked), then a purge: every
//!    path the packages or their scripts made is gone; only the user stays, as Debian leaves system
//!    users.
//!
//! It needs root (dpkg sets owners in the scratch root), as CI has.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail, ensure};

use super::{Built, walk};
use crate::target_dir;

/// What each package must hold: paths (no others, apart from their folders) with their modes.
struct Expected {
    name: &'static str,
    has_binary: bool,
    /// Packages its Depends must name (besides the shared libraries of its binary).
    depends: &'static [&'static str],
    files: &'static [(&'static str, u32)],
    conffiles: &'static [&'static str],
}

const EXPECTED: &[Expected] = &[
    Expected {
        name: "vitrine-player",
        has_binary: true,
        depends: &[
            // Shared libraries, found by dpkg-shlibdeps.
            "libc6",
            "libgstreamer1.0-0",
            "libasound2",
            // Loaded at run time: video, GPU, windows, fonts, TLS roots, time zones.
            "gstreamer1.0-plugins-base",
            "gstreamer1.0-plugins-good",
            "gstreamer1.0-plugins-bad",
            "gstreamer1.0-libav",
            "gstreamer1.0-alsa",
            "libvulkan1",
            "mesa-vulkan-drivers",
            "libegl1",
            "libgl1-mesa-dri",
            "libwayland-client0",
            "libx11-6",
            "fonts-noto-core",
            "ca-certificates",
            "tzdata",
            "systemd",
        ],
        files: &[
            ("usr/bin/vitrine-player", 0o755),
            ("usr/lib/systemd/system/vitrine-player.service", 0o644),
            ("usr/lib/sysusers.d/vitrine-player.conf", 0o644),
            ("usr/lib/tmpfiles.d/vitrine-player.conf", 0o644),
            ("etc/vitrine/player.toml", 0o644),
            ("usr/share/doc/vitrine-player/copyright", 0o644),
            ("usr/share/doc/vitrine-player/README.md", 0o644),
            ("usr/share/doc/vitrine-player/install.md", 0o644),
        ],
        conffiles: &["/etc/vitrine/player.toml"],
    },
    Expected {
        name: "vitrine-scheduler",
        has_binary: true,
        depends: &["libc6", "systemd", "ca-certificates", "tzdata"],
        files: &[
            ("usr/bin/vitrine-scheduler", 0o755),
            ("usr/lib/systemd/system/vitrine-scheduler.service", 0o644),
            ("usr/lib/sysusers.d/vitrine-scheduler.conf", 0o644),
            ("usr/lib/tmpfiles.d/vitrine-scheduler.conf", 0o644),
            ("etc/vitrine/scheduler.toml", 0o644),
            ("usr/share/doc/vitrine-scheduler/copyright", 0o644),
            ("usr/share/doc/vitrine-scheduler/README.md", 0o644),
            ("usr/share/doc/vitrine-scheduler/install.md", 0o644),
            ("usr/share/doc/vitrine-scheduler/security.md", 0o644),
        ],
        conffiles: &["/etc/vitrine/scheduler.toml"],
    },
    Expected {
        name: "vitrine",
        has_binary: true,
        depends: &["libc6", "ca-certificates"],
        files: &[
            ("usr/bin/vitrine", 0o755),
            ("usr/share/doc/vitrine/copyright", 0o644),
            ("usr/share/doc/vitrine/README.md", 0o644),
            ("usr/share/doc/vitrine/playlists.md", 0o644),
        ],
        conffiles: &[],
    },
    Expected {
        name: "vitrine-kiosk",
        has_binary: false,
        depends: &["vitrine-player", "cage", "libpam-systemd", "systemd"],
        files: &[
            (
                "usr/lib/systemd/system/vitrine-player.service.d/kiosk.conf",
                0o644,
            ),
            ("usr/lib/sysusers.d/vitrine-kiosk.conf", 0o644),
            ("usr/share/doc/vitrine-kiosk/copyright", 0o644),
        ],
        conffiles: &[],
    },
];

/// Enabled units: the `.wants` folder of the target each is enabled for.
const ENABLED: &[(&str, &str)] = &[
    ("vitrine-player.service", "graphical.target.wants"),
    ("vitrine-scheduler.service", "multi-user.target.wants"),
];

/// State folders: 0700, owned by vitrine, gone after a purge.
const STATE_DIRS: &[&str] = &["var/lib/vitrine-player", "var/lib/vitrine-scheduler"];

/// The groups the player's user needs for the GPU and sound; the kiosk adds `input`.
const PLAYER_GROUPS: &[&str] = &["audio", "video", "render"];

pub fn run(built: &Built) -> anyhow::Result<()> {
    ensure!(
        is_root(),
        "the package check installs into a scratch root with dpkg, which needs root (CI runs as \
         root); run it as root"
    );
    ensure!(
        built.debs.len() == EXPECTED.len(),
        "dist built {} packages but the check expects {} ({})",
        built.debs.len(),
        EXPECTED.len(),
        EXPECTED
            .iter()
            .map(|e| e.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let scratch = target_dir().join("dist/check");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot remove {}", scratch.display()))?;
    }
    std::fs::create_dir_all(&scratch)?;

    let mut debs = BTreeMap::new();
    for expected in EXPECTED {
        let deb = built
            .debs
            .iter()
            .find(|(package, _)| package.name == expected.name)
            .map(|(_, deb)| deb.clone())
            .with_context(|| format!("dist built no {} package", expected.name))?;
        check_package(expected, &deb, built, &scratch)
            .with_context(|| format!("package {} ({})", expected.name, deb.display()))?;
        debs.insert(expected.name, deb);
    }
    eprintln!(
        "xtask dist: contents and metadata of {} packages as expected",
        debs.len()
    );
    install_and_purge(&debs, &scratch.join("root"), &scratch.join("shims"))?;
    eprintln!("xtask dist: package check passed");
    Ok(())
}

fn check_package(
    expected: &Expected,
    deb: &Path,
    built: &Built,
    scratch: &Path,
) -> anyhow::Result<()> {
    // Control fields.
    let fields = parse_control(&stdout(Command::new("dpkg-deb").arg("--field").arg(deb))?)?;
    let field = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("no {name} field in its control file"))
    };
    ensure!(
        field("Package")? == expected.name,
        "Package is {:?}",
        field("Package")?
    );
    ensure!(
        field("Version")? == built.version,
        "Version is {:?}, not {:?}",
        field("Version")?,
        built.version
    );
    let architecture = if expected.has_binary {
        built.architecture.as_str()
    } else {
        "all"
    };
    ensure!(
        field("Architecture")? == architecture,
        "Architecture is {:?}, not {architecture:?}",
        field("Architecture")?
    );
    ensure!(
        field("Maintainer")?.contains('@'),
        "Maintainer {:?} has no address",
        field("Maintainer")?
    );
    ensure!(!field("Section")?.is_empty(), "empty Section");
    ensure!(
        field("Priority")? == "optional",
        "Priority is {:?}",
        field("Priority")?
    );
    let description = field("Description")?;
    let (summary, long) = description.split_once('\n').unwrap_or((description, ""));
    ensure!(
        summary.len() <= 80 && !summary.is_empty(),
        "the Description's summary {summary:?} is empty or over 80 characters"
    );
    ensure!(
        long.trim().len() > 40,
        "the Description has no long description"
    );

    let depends: BTreeSet<String> = field("Depends")?
        .split(',')
        .flat_map(|alternatives| alternatives.split('|'))
        .map(|dependency| {
            dependency
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let missing: Vec<&str> = expected
        .depends
        .iter()
        .copied()
        .filter(|name| !depends.contains(*name))
        .collect();
    ensure!(
        missing.is_empty(),
        "Depends lacks {} (it is {:?})",
        missing.join(", "),
        field("Depends")?
    );
    if expected.name == "vitrine-kiosk" {
        let player = format!("vitrine-player (= {})", built.version);
        ensure!(
            field("Depends")?.contains(&player),
            "Depends does not pin {player}"
        );
    }

    // Contents: every expected path, with its mode and owner, its folders, and nothing else.
    let listing = stdout(Command::new("dpkg-deb").arg("--contents").arg(deb))?;
    let mut contents: BTreeMap<String, (String, String, u64)> = BTreeMap::new();
    for line in listing.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            parts.len() >= 6,
            "unexpected dpkg-deb --contents line {line:?}"
        );
        let path = parts[5]
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        if path.is_empty() || path == "." {
            continue;
        }
        let size = parts[2]
            .parse()
            .with_context(|| format!("size in {line:?}"))?;
        contents.insert(path, (parts[0].to_owned(), parts[1].to_owned(), size));
    }
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for (path, mode) in expected.files {
        wanted.insert((*path).to_owned(), mode_string('-', *mode));
        for folder in Path::new(path).ancestors().skip(1) {
            if !folder.as_os_str().is_empty() {
                wanted.insert(
                    folder.to_string_lossy().into_owned(),
                    mode_string('d', 0o755),
                );
            }
        }
    }
    for (path, mode) in &wanted {
        let Some((actual_mode, owner, _)) = contents.get(path) else {
            bail!("/{path} is missing from its contents");
        };
        ensure!(
            actual_mode == mode,
            "/{path} has mode {actual_mode}, not {mode}"
        );
        ensure!(
            owner == "root/root",
            "/{path} belongs to {owner}, not root/root"
        );
    }
    let stray: Vec<&String> = contents
        .keys()
        .filter(|path| !wanted.contains_key(*path))
        .collect();
    ensure!(
        stray.is_empty(),
        "unexpected paths in its contents: {stray:?}"
    );
    for (path, (mode, _, size)) in &contents {
        if mode.starts_with('-') {
            ensure!(*size > 0, "/{path} is empty");
        }
    }
    let installed_size: u64 = contents
        .values()
        .map(|(mode, _, size)| {
            if mode.starts_with('d') {
                1
            } else {
                size.div_ceil(1024)
            }
        })
        .sum();
    ensure!(
        field("Installed-Size")? == installed_size.to_string(),
        "Installed-Size is {}, but its contents take {installed_size} KiB",
        field("Installed-Size")?
    );

    // Control archive: conffiles, md5sums, maintainer scripts.
    let control = scratch.join(format!("{}.control", expected.name));
    succeed(
        Command::new("dpkg-deb")
            .arg("--control")
            .arg(deb)
            .arg(&control),
    )?;
    let conffiles: Vec<String> = std::fs::read_to_string(control.join("conffiles"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    ensure!(
        conffiles == expected.conffiles,
        "its conffiles are {conffiles:?}, not {:?}",
        expected.conffiles
    );
    let md5sums = std::fs::read_to_string(control.join("md5sums")).context("no md5sums")?;
    let regular = contents
        .values()
        .filter(|(mode, _, _)| mode.starts_with('-'))
        .count();
    ensure!(
        md5sums.lines().count() == regular,
        "md5sums lists {} files of {regular}",
        md5sums.lines().count()
    );
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        let mode = std::fs::metadata(&path)
            .with_context(|| format!("no {script}"))?
            .permissions()
            .mode();
        ensure!(
            mode & 0o777 == 0o755,
            "{script} has mode {:o}, not 755",
            mode & 0o777
        );
        succeed(Command::new("sh").arg("-n").arg(&path))
            .with_context(|| format!("{script} is not valid sh"))?;
    }
    Ok(())
}

fn install_and_purge(
    debs: &BTreeMap<&str, PathBuf>,
    root: &Path,
    shims: &Path,
) -> anyhow::Result<()> {
    prepare_root(root)?;
    let log = shims.join("calls.log");
    make_shims(shims, &log)?;
    let before = snapshot(root)?;
    let dpkg = |arguments: &[&str], packages: &[&str], debs_too: bool| -> anyhow::Result<()> {
        let mut command = Command::new("dpkg");
        command
            .arg(format!("--root={}", root.display()))
            .args(["--force-script-chrootless", "--no-triggers"])
            .args(arguments)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    shims.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("DEBIAN_FRONTEND", "noninteractive")
            // A conffile question would wait for an answer: fail instead.
            .stdin(std::process::Stdio::null());
        for package in packages {
            if debs_too {
                command.arg(&debs[package]);
            } else {
                command.arg(package);
            }
        }
        succeed(&mut command).with_context(|| {
            format!(
                "dpkg {} in the scratch root {} (its dependencies must be installed on this \
                 machine: `cargo xtask setup`)",
                arguments.join(" "),
                root.display()
            )
        })
    };

    // Install the services and the CLI.
    dpkg(
        &["--install"],
        &["vitrine-player", "vitrine-scheduler", "vitrine"],
        true,
    )?;
    for package in ["vitrine-player", "vitrine-scheduler", "vitrine"] {
        ensure_status(root, package, "install ok installed")?;
    }
    let (uid, gid) = check_user(root)?;
    for directory in STATE_DIRS {
        let metadata = std::fs::metadata(root.join(directory))
            .with_context(|| format!("the install did not create /{directory}"))?;
        ensure!(metadata.is_dir(), "/{directory} is not a folder");
        ensure!(
            metadata.mode() & 0o7777 == 0o700,
            "/{directory} has mode {:o}, not 700",
            metadata.mode() & 0o7777
        );
        ensure!(
            (metadata.uid(), metadata.gid()) == (uid, gid),
            "/{directory} belongs to {}:{}, not vitrine ({uid}:{gid})",
            metadata.uid(),
            metadata.gid()
        );
    }
    for (conffile, source) in [
        ("etc/vitrine/player.toml", "packaging/player.toml"),
        ("etc/vitrine/scheduler.toml", "packaging/scheduler.toml"),
    ] {
        let path = root.join(conffile);
        let metadata =
            std::fs::metadata(&path).with_context(|| format!("/{conffile} is not installed"))?;
        ensure!(
            metadata.mode() & 0o7777 == 0o640 && metadata.uid() == 0 && metadata.gid() == gid,
            "/{conffile} has mode {:o} and owner {}:{}; it may hold a token, so it must be 640 \
             root:vitrine ({gid})",
            metadata.mode() & 0o7777,
            metadata.uid(),
            metadata.gid()
        );
        ensure!(
            std::fs::read(&path)? == std::fs::read(crate::workspace_root().join(source))?,
            "/{conffile} differs from {source}"
        );
    }
    let conffiles = stdout(
        Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                root.join("var/lib/dpkg").display()
            ))
            .args([
                "-W",
                "-f=${Conffiles}\n",
                "vitrine-player",
                "vitrine-scheduler",
            ]),
    )?;
    for conffile in ["/etc/vitrine/player.toml", "/etc/vitrine/scheduler.toml"] {
        ensure!(
            conffiles.contains(conffile),
            "dpkg does not list {conffile} as a conffile: {conffiles}"
        );
    }
    for (unit, wants) in ENABLED {
        let link = root.join("etc/systemd/system").join(wants).join(unit);
        let target = std::fs::read_link(&link)
            .with_context(|| format!("{unit} is not enabled: no link {}", link.display()))?;
        ensure!(
            target == Path::new("/usr/lib/systemd/system").join(unit),
            "{} points to {}, not /usr/lib/systemd/system/{unit}",
            link.display(),
            target.display()
        );
    }
    verify_units(
        root,
        &["vitrine-player.service", "vitrine-scheduler.service"],
    )?;

    // Installing again, as an upgrade does, keeps what the administrator chose: an edited
    // conffile, a disabled service, the state.
    let player_toml = root.join("etc/vitrine/player.toml");
    let mut edited = std::fs::read_to_string(&player_toml)?;
    edited.push_str("\n# edited by the administrator\n");
    std::fs::write(&player_toml, &edited)?;
    let scheduler_link =
        root.join("etc/systemd/system/multi-user.target.wants/vitrine-scheduler.service");
    std::fs::remove_file(&scheduler_link)?; // what `systemctl disable vitrine-scheduler` does
    let state_file = root.join(STATE_DIRS[0]).join("journal.sqlite");
    std::fs::write(&state_file, "plays")?;
    dpkg(
        &["--install"],
        &["vitrine-player", "vitrine-scheduler", "vitrine"],
        true,
    )?;
    ensure!(
        std::fs::read_to_string(&player_toml)? == edited,
        "installing again replaced the edited /etc/vitrine/player.toml"
    );
    let mode = std::fs::metadata(&player_toml)?.mode() & 0o7777;
    ensure!(
        mode == 0o640,
        "/etc/vitrine/player.toml has mode {mode:o} after installing again"
    );
    ensure!(
        std::fs::symlink_metadata(&scheduler_link).is_err(),
        "installing again enabled vitrine-scheduler.service, which the administrator had disabled"
    );
    let player_link = root.join("etc/systemd/system/graphical.target.wants/vitrine-player.service");
    ensure!(
        std::fs::symlink_metadata(&player_link).is_ok(),
        "installing again disabled vitrine-player.service"
    );
    ensure!(
        state_file.exists(),
        "installing again lost /{}/journal.sqlite",
        STATE_DIRS[0]
    );

    // The kiosk: the drop-in, the input group, and the player's unit as it now runs (cage).
    dpkg(&["--install"], &["vitrine-kiosk"], true)?;
    ensure_status(root, "vitrine-kiosk", "install ok installed")?;
    check_user(root)?;
    ensure!(
        group_members(root, "input")?.contains("vitrine"),
        "the kiosk did not put vitrine in the input group"
    );
    verify_units(root, &["vitrine-player.service"])?;
    // Under cage the player is a child of the main process: systemd must take its notifications,
    // and must not tell it (WATCHDOG_PID=cage's pid) that the watchdog is not its own.
    let drop_in = std::fs::read_to_string(
        root.join("usr/lib/systemd/system/vitrine-player.service.d/kiosk.conf"),
    )?;
    let settings: Vec<&str> = drop_in
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect();
    ensure!(
        settings.contains(&"NotifyAccess=all"),
        "the kiosk drop-in lacks NotifyAccess=all: the player's READY=1 and WATCHDOG=1 would be ignored"
    );
    ensure!(
        settings
            .iter()
            .any(|line| line.starts_with("UnsetEnvironment=")
                && line.split(['=', ' ']).any(|word| word == "WATCHDOG_PID")),
        "the kiosk drop-in does not unset WATCHDOG_PID: the player would read cage's pid there and \
         never pet the watchdog"
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let starts: Vec<&str> = calls
        .lines()
        .filter(|call| call.contains("start") || call.contains("--now") || call.contains("reload"))
        .collect();
    ensure!(
        starts.is_empty(),
        "installing must not start anything, but the scripts ran: {starts:?}"
    );
    eprintln!(
        "xtask dist: installed into {}: user, state folders, conffiles, enabled units, nothing started",
        root.display()
    );

    // Removal: programs go, configuration and state stay, and the units are masked.
    dpkg(
        &["--remove"],
        &[
            "vitrine-kiosk",
            "vitrine",
            "vitrine-scheduler",
            "vitrine-player",
        ],
        false,
    )?;
    for binary in ["vitrine-player", "vitrine-scheduler", "vitrine"] {
        ensure!(
            !root.join("usr/bin").join(binary).exists(),
            "/usr/bin/{binary} is still there after removal"
        );
    }
    ensure!(
        !root
            .join("usr/lib/systemd/system/vitrine-player.service.d/kiosk.conf")
            .exists(),
        "the kiosk drop-in is still there after removal"
    );
    for kept in [
        "etc/vitrine/player.toml",
        "etc/vitrine/scheduler.toml",
        STATE_DIRS[0],
        STATE_DIRS[1],
    ] {
        ensure!(
            root.join(kept).exists(),
            "/{kept} went with a removal; only a purge deletes it"
        );
    }
    for (unit, _) in ENABLED {
        let mask = root.join("etc/systemd/system").join(unit);
        ensure!(
            std::fs::read_link(&mask).ok().as_deref() == Some(Path::new("/dev/null")),
            "{unit} is not masked after removal: {} is not a link to /dev/null",
            mask.display()
        );
    }

    // Purge: nothing of ours is left but the user.
    dpkg(
        &["--purge"],
        &[
            "vitrine-kiosk",
            "vitrine",
            "vitrine-scheduler",
            "vitrine-player",
        ],
        false,
    )?;
    for package in [
        "vitrine-player",
        "vitrine-scheduler",
        "vitrine",
        "vitrine-kiosk",
    ] {
        let status = package_status(root, package)?;
        ensure!(
            status.is_empty() || status == "unknown ok not-installed",
            "{package} is still known to dpkg after the purge: {status}"
        );
    }
    check_user(root)?;
    let after = snapshot(root)?;
    let left: Vec<&String> = after
        .keys()
        .filter(|path| !before.contains_key(*path) && !purge_may_leave(path))
        .collect();
    ensure!(left.is_empty(), "the purge left {left:?}");
    let changed: Vec<&String> = before
        .iter()
        .filter(|(path, entry)| {
            after.get(*path) != Some(entry)
                && !matches!(path.as_str(), "etc/passwd" | "etc/group")
                && !path.starts_with("var/lib/dpkg")
        })
        .map(|(path, _)| path)
        .collect();
    ensure!(
        changed.is_empty(),
        "the packages changed or removed paths they do not own: {changed:?}"
    );
    eprintln!(
        "xtask dist: removed, then purged: configuration, state, unit links and masks gone; the user vitrine stays"
    );
    Ok(())
}

/// What a purge leaves by design: the user's entries (with the backups and lock the user tools
/// write) and dpkg's own records.
fn purge_may_leave(path: &str) -> bool {
    matches!(
        path,
        "etc/passwd-"
            | "etc/group-"
            | "etc/shadow"
            | "etc/shadow-"
            | "etc/gshadow"
            | "etc/gshadow-"
            | "etc/.pwd.lock"
    ) || path.starts_with("var/lib/dpkg/")
        || path == "var/log"
        || path == "var/log/dpkg.log"
}

/// A root with what the packages' scripts and checks find on any Debian system: the root user
/// and group, dpkg's database (this machine's, so that dependencies are real packages), systemd's
/// own units and folders, and cage (what the kiosk's dependency brings) for `systemd-analyze verify`.
fn prepare_root(root: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(root.join("etc"))?;
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n")?;
    std::fs::write(root.join("etc/group"), "root:x:0:\n")?;
    let admin = root.join("var/lib/dpkg");
    for folder in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(folder))?;
    }
    // This machine's packages, less any Vitrine package it has installed.
    let status = std::fs::read_to_string("/var/lib/dpkg/status")
        .context("cannot read /var/lib/dpkg/status")?;
    let ours = [
        "vitrine-player",
        "vitrine-scheduler",
        "vitrine",
        "vitrine-kiosk",
    ];
    let kept: Vec<&str> = status
        .split("\n\n")
        .filter(|stanza| {
            let name = stanza
                .lines()
                .find_map(|line| line.strip_prefix("Package: "))
                .unwrap_or_default();
            !ours.contains(&name)
        })
        .collect();
    std::fs::write(admin.join("status"), kept.join("\n\n"))?;
    std::fs::write(admin.join("available"), "")?;
    // The folders the systemd package has, which deb-systemd-helper writes into.
    for folder in ["etc/systemd/system", "var/lib/systemd", "usr/lib/systemd"] {
        std::fs::create_dir_all(root.join(folder))?;
    }
    succeed(
        Command::new("cp")
            .arg("-a")
            .arg("/usr/lib/systemd/system")
            .arg(root.join("usr/lib/systemd/")),
    )
    .context("copying systemd's units into the scratch root")?;
    let cage = Path::new("/usr/bin/cage");
    ensure!(
        cage.exists(),
        "/usr/bin/cage is missing: the check verifies the kiosk unit, which runs it; install the \
         cage package (`cargo xtask setup` does)"
    );
    std::fs::create_dir_all(root.join("usr/bin"))?;
    std::fs::copy(cage, root.join("usr/bin/cage"))?;
    Ok(())
}

/// Stand-ins for what starts services: they only record how they were called.
fn make_shims(shims: &Path, log: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(shims)?;
    for name in ["systemctl", "deb-systemd-invoke", "invoke-rc.d", "service"] {
        let path = shims.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", log.display()),
        )?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The user vitrine: a system user with no login shell, in the device groups. Its uid and gid.
fn check_user(root: &Path) -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string(root.join("etc/passwd"))?;
    let entry = passwd
        .lines()
        .find(|line| line.starts_with("vitrine:"))
        .context("no user vitrine in /etc/passwd")?;
    let fields: Vec<&str> = entry.split(':').collect();
    ensure!(fields.len() == 7, "malformed passwd entry {entry:?}");
    let uid: u32 = fields[2].parse()?;
    let gid: u32 = fields[3].parse()?;
    ensure!(
        (1..1000).contains(&uid),
        "vitrine has uid {uid}, not a system user's (1-999)"
    );
    ensure!(
        fields[6] == "/usr/sbin/nologin",
        "vitrine's shell is {:?}, not /usr/sbin/nologin",
        fields[6]
    );
    let group = std::fs::read_to_string(root.join("etc/group"))?;
    ensure!(
        group
            .lines()
            .any(|line| line.starts_with(&format!("vitrine:x:{gid}:"))),
        "no group vitrine with gid {gid} in /etc/group"
    );
    for name in PLAYER_GROUPS {
        ensure!(
            group_members(root, name)?.contains("vitrine"),
            "vitrine is not in the {name} group"
        );
    }
    Ok((uid, gid))
}

fn group_members(root: &Path, name: &str) -> anyhow::Result<BTreeSet<String>> {
    let group = std::fs::read_to_string(root.join("etc/group"))?;
    let line = group
        .lines()
        .find(|line| line.starts_with(&format!("{name}:")))
        .with_context(|| format!("no group {name} in /etc/group"))?;
    Ok(line
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .split(',')
        .filter(|member| !member.is_empty())
        .map(str::to_owned)
        .collect())
}

/// `systemd-analyze verify` on installed units: it fails on a missing or non-executable
/// ExecStart, and any line it prints about our units (unknown keys, bad values) fails too.
fn verify_units(root: &Path, units: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(units)
        .output()
        .context("cannot run systemd-analyze (package systemd)")?;
    let messages = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let ours: Vec<&str> = messages
        .lines()
        .filter(|line| line.contains("vitrine") || line.contains("kiosk"))
        .collect();
    if !output.status.success() || !ours.is_empty() {
        bail!(
            "systemd-analyze verify {} ({}):\n{}",
            units.join(" "),
            output.status,
            messages.trim_end()
        );
    }
    for line in messages.lines() {
        eprintln!("systemd-analyze (not about our units): {line}");
    }
    eprintln!(
        "xtask dist: systemd-analyze verify {}: clean",
        units.join(" ")
    );
    Ok(())
}

fn ensure_status(root: &Path, package: &str, wanted: &str) -> anyhow::Result<()> {
    let status = package_status(root, package)?;
    ensure!(
        status == wanted,
        "{package} has dpkg status {status:?}, not {wanted:?}"
    );
    Ok(())
}

fn package_status(root: &Path, package: &str) -> anyhow::Result<String> {
    let output = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f=${Status}", package])
        .output()
        .context("cannot run dpkg-query")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Every path under `root` with its type, mode, owner and (for files and links) content.
fn snapshot(root: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut entries = BTreeMap::new();
    for path in walk(root)? {
        let relative = path.strip_prefix(root)?.to_string_lossy().into_owned();
        let metadata = std::fs::symlink_metadata(&path)?;
        let content = if metadata.is_symlink() {
            format!("-> {}", std::fs::read_link(&path)?.display())
        } else if metadata.is_file() {
            format!(
                "{} bytes, modified {}",
                metadata.len(),
                metadata.mtime_nsec() + metadata.mtime() * 1_000_000_000
            )
        } else {
            String::new()
        };
        entries.insert(
            relative,
            format!(
                "{:o} {}:{} {content}",
                metadata.mode(),
                metadata.uid(),
                metadata.gid()
            ),
        );
    }
    Ok(entries)
}

fn parse_control(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if let Some(continuation) = line.strip_prefix(' ') {
            let name = last
                .as_ref()
                .context("a continuation line before any field")?;
            let value = fields.get_mut(name).context("field")?;
            value.push('\n');
            value.push_str(continuation);
        } else if let Some((name, value)) = line.split_once(": ") {
            fields.insert(name.to_owned(), value.to_owned());
            last = Some(name.to_owned());
        } else if !line.is_empty() {
            bail!("unexpected control line {line:?}");
        }
    }
    Ok(fields)
}

fn mode_string(kind: char, mode: u32) -> String {
    let mut text = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|metadata| metadata.uid() == 0)
        .unwrap_or(false)
}

fn succeed(command: &mut Command) -> anyhow::Result<()> {
    output(command).map(|_| ())
}

fn stdout(command: &mut Command) -> anyhow::Result<String> {
    output(command).map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a command, failing with its output when it fails.
fn output(command: &mut Command) -> anyhow::Result<Output> {
    let description = format!("{command:?}");
    let output = command
        .output()
        .with_context(|| format!("cannot run {description}"))?;
    if !output.status.success() {
        bail!(
            "{description} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}
