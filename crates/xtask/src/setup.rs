//! `cargo xtask setup`: installs the Debian packages that building, testing and the demo need.
//! Idempotent, and quick when everything is there: it asks dpkg first and calls apt only for what is
//! missing.

use std::process::Command;

use anyhow::{Context, bail};

/// Packages, each with why it is needed.
const PACKAGES: &[(&str, &str)] = &[
    ("pkg-config", "build: finds system libraries"),
    ("libgstreamer1.0-dev", "build: GStreamer, for video items"),
    (
        "libgstreamer-plugins-base1.0-dev",
        "build: GStreamer's app and video libraries",
    ),
    (
        "gstreamer1.0-plugins-base",
        "runtime: decodebin, videoconvert, appsink, audio conversion",
    ),
    (
        "gstreamer1.0-plugins-good",
        "runtime: MP4 and Matroska demuxers, videoflip, autoaudiosink",
    ),
    (
        "gstreamer1.0-plugins-bad",
        "runtime: H.265 and VA-API hardware decoders",
    ),
    (
        "gstreamer1.0-plugins-ugly",
        "tests: x264enc, which makes the test clips",
    ),
    ("gstreamer1.0-libav", "runtime: the software H.264 decoder"),
    (
        "gstreamer1.0-alsa",
        "runtime: alsasink, video soundtracks on an ALSA device",
    ),
    (
        "gstreamer1.0-tools",
        "tests and bench: gst-launch-1.0 makes clips and is the decode-only floor",
    ),
    ("mpv", "bench: the video playback peer"),
    (
        "time",
        "bench: /usr/bin/time, CPU seconds of whole commands",
    ),
    (
        "libasound2-dev",
        "build: ALSA, for audio items through cpal",
    ),
    (
        "ffmpeg",
        "tests: audio clips in every format the player decodes, video clips by colour",
    ),
    (
        "mesa-vulkan-drivers",
        "tests: lavapipe, the software Vulkan driver",
    ),
    ("libvulkan1", "runtime: the Vulkan loader"),
    ("libegl1", "runtime: EGL for the OpenGL backend"),
    ("libegl-mesa0", "tests: llvmpipe through EGL"),
    (
        "libgl1-mesa-dri",
        "tests: llvmpipe, the software OpenGL driver",
    ),
    ("libgles2", "runtime: OpenGL ES"),
    ("libx11-6", "window: X11"),
    ("libx11-xcb1", "window: X11 with XCB"),
    ("libxcursor1", "window: cursor hiding"),
    ("libxrandr2", "window: monitor sizes"),
    ("libxi6", "window: X input"),
    ("libxkbcommon-x11-0", "window: keyboard"),
    ("libwayland-client0", "window: Wayland, as in the kiosk"),
    ("libwayland-cursor0", "window: Wayland cursor hiding"),
    ("libwayland-egl1", "window: OpenGL on Wayland"),
    ("libxkbcommon0", "window: Wayland keyboard"),
    ("xvfb", "tests and headless demo: a virtual X display"),
    ("xauth", "xvfb-run"),
    (
        "faketime",
        "tests: a player restarted a week in the future (libfaketime)",
    ),
    (
        "matchbox-window-manager",
        "tests: the window under a kiosk window manager",
    ),
    ("x11-apps", "tests: xwd screenshots of the player's window"),
    ("chromium", "tests: the web console in a real browser"),
    (
        "chromium-driver",
        "tests: chromedriver, which drives Chromium over WebDriver",
    ),
    ("libjpeg-turbo-progs", "bench: djpeg, the JPEG decode peer"),
    (
        "libvips-tools",
        "bench: vipsthumbnail, the decode-and-scale peer",
    ),
    ("wrk", "bench: the HTTP load generator for manifest serving"),
    (
        "nginx",
        "bench: the static-file peer for manifest serving (run privately, not as a service)",
    ),
    (
        "fonts-noto-core",
        "runtime: text in Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai and symbols",
    ),
    (
        "fonts-noto-cjk",
        "runtime: text in Chinese, Japanese and Korean",
    ),
    ("fonts-noto-color-emoji", "runtime: colour emoji in text"),
    ("tzdata", "runtime: store-local time zones"),
    (
        "dpkg-dev",
        "dist: dpkg-shlibdeps, the packages of the binaries' shared libraries",
    ),
    ("binutils", "dist: strip for the release packages"),
    (
        "systemd",
        "dist check: systemd-analyze verify, and systemd-sysusers and systemd-tmpfiles for the maintainer scripts",
    ),
    (
        "init-system-helpers",
        "dist check: deb-systemd-helper, which the maintainer scripts enable units with",
    ),
    (
        "libpam-systemd",
        "dist check: the kiosk package's dependency (a logind session on tty1)",
    ),
    (
        "cage",
        "dist check: the kiosk package's dependency, whose binary systemd-analyze verify looks for",
    ),
    ("ca-certificates", "runtime: TLS to the scheduler"),
    (
        "postgresql",
        "tests and bench: the scheduler's second backend, started privately as an unprivileged user",
    ),
    (
        "openssl",
        "tests: the certificate the private PostgreSQL server speaks TLS with",
    ),
    (
        "python3-venv",
        "tests: the S3-compatible test server (moto, from PyPI) in a virtual environment",
    ),
];

pub fn run() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !installed(name))
        .collect();
    if missing.is_empty() {
        eprintln!(
            "xtask setup: all {} system packages present",
            PACKAGES.len()
        );
        return Ok(());
    }
    eprintln!("xtask setup: installing {}", missing.join(" "));
    if !is_root() {
        bail!(
            "missing system packages; install them with:\n  sudo apt-get install -y {}",
            missing.join(" ")
        );
    }
    crate::run_command(Command::new("apt-get").args(["update", "-qq"]))?;
    crate::run_command(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let still_missing: Vec<&str> = missing
        .into_iter()
        .filter(|name| !installed(name))
        .collect();
    if !still_missing.is_empty() {
        bail!(
            "apt-get ran but these packages are still missing: {}",
            still_missing.join(" ")
        );
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}
