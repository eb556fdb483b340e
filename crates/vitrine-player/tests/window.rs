//! The real `vitrine-player` binary in window mode under Xvfb (no window manager), screenshotted
//! with `xwd -root`: with no scheduler and an empty cache it must show its built-in splash over the
//! whole 1280x720 screen, not an 800x600 window in a corner. Needs `xvfb-run`, `xauth` and `xwd`
//! (packages xvfb, xauth, x11-apps; `cargo xtask setup` installs them); without them it fails.

use std::process::Command;

const SCREEN: (u32, u32) = (1280, 720);

/// An XWD dump as RGB: a big-endian header of 25 numbers, the window name, a colour map, then rows
/// of pixels in the server's byte order, read through the header's channel masks.
fn parse_xwd(bytes: &[u8]) -> image::RgbImage {
    let field =
        |index: usize| u32::from_be_bytes(bytes[index * 4..index * 4 + 4].try_into().unwrap());
    let header_size = field(0) as usize;
    assert_eq!(field(1), 7, "XWD version 7");
    let (width, height) = (field(4), field(5));
    let byte_order = field(7); // 0: least significant byte first
    let bits_per_pixel = field(11);
    let bytes_per_line = field(12) as usize;
    let masks = [field(14), field(15), field(16)];
    let colour_map_entries = field(19) as usize; // ncolors: the entries actually written
    assert_eq!(
        bits_per_pixel, 32,
        "a 24-bit screen dumps 32 bits per pixel"
    );
    let pixels = &bytes[header_size + colour_map_entries * 12..];
    image::RgbImage::from_fn(width, height, |x, y| {
        let at = y as usize * bytes_per_line + x as usize * 4;
        let raw: [u8; 4] = pixels[at..at + 4].try_into().unwrap();
        let value = if byte_order == 0 {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        };
        image::Rgb(masks.map(|mask| ((value & mask) >> mask.trailing_zeros()) as u8))
    })
}

/// How long the player may take to cover the screen: generous, since the machine may be busy.
const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the real player under Xvfb (with `window_manager` started first, if given) and screenshots
/// the whole screen every half second until a screenshot shows the splash covering it, or fails
/// after [`WAIT`] with what the last one showed and the player's log.
fn assert_player_covers_the_screen_with_the_splash(window_manager: Option<&str>) {
    let directory = tempfile::tempdir().unwrap();
    let shots = directory.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    let done = directory.path().join("done");
    let log_file = directory.path().join("log");
    let data_dir = directory.path().join("data");
    let start_window_manager = window_manager
        // The window manager must really be running, or the test would prove nothing more.
        .map(|command| format!("{command} & wm=$!; sleep 1; kill -0 $wm || exit 3; "))
        .unwrap_or_default();
    // Screenshots are written under a temporary name and renamed, so none is read half written.
    let script = format!(
        "{start_window_manager}'{binary}' --data-dir '{data}' --run-for 300s & player=$!; \
         i=0; while [ ! -e '{done}' ] && kill -0 $player 2>/dev/null; do \
           i=$((i+1)); xwd -root -silent -out '{shots}/next' && mv '{shots}/next' '{shots}/'$i.xwd; \
           sleep 0.5; \
         done; kill $player 2>/dev/null; wait $player; exit 0",
        binary = env!("CARGO_BIN_EXE_vitrine-player"),
        data = data_dir.display(),
        shots = shots.display(),
        done = done.display(),
    );
    let log = std::fs::File::create(&log_file).unwrap();
    let mut xvfb = Command::new("xvfb-run")
        .args([
            "-a",
            "-s",
            &format!("-screen 0 {}x{}x24", SCREEN.0, SCREEN.1),
            "sh",
            "-c",
            &script,
        ])
        .env_remove("WAYLAND_DISPLAY")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("xvfb-run (packages xvfb and xauth; `cargo xtask setup`)");
    let started = std::time::Instant::now();
    let mut checked = 0;
    let mut last = "no screenshot yet".to_owned();
    let covered = loop {
        let next = shots.join(format!("{}.xwd", checked + 1));
        if let Ok(bytes) = std::fs::read(&next) {
            checked += 1;
            match splash_covers(&parse_xwd(&bytes)) {
                Ok(()) => break true,
                Err(why) => last = format!("screenshot {checked}: {why}"),
            }
            continue;
        }
        if started.elapsed() > WAIT || matches!(xvfb.try_wait(), Ok(Some(_))) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    std::fs::write(&done, "").unwrap();
    let status = xvfb.wait().unwrap();
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    assert!(
        covered,
        "no screenshot in {WAIT:?} showed the splash covering the screen; {last}\n\
         xvfb-run: {status}\n{log}"
    );
    assert!(status.success(), "the player under Xvfb failed:\n{log}");
}

#[test]
fn the_window_covers_the_screen_with_the_splash_under_xvfb() {
    assert_player_covers_the_screen_with_the_splash(None);
}

/// With a window manager (the kiosk setup of a store PC) the window is borderless fullscreen too.
#[test]
fn the_window_covers_the_screen_under_a_window_manager() {
    assert_player_covers_the_screen_with_the_splash(Some(
        "matchbox-window-manager -use_titlebar no",
    ));
}

/// Whether `screen` is the splash over the whole screen; if not, what is wrong.
fn splash_covers(screen: &image::RgbImage) -> Result<(), String> {
    if screen.dimensions() != SCREEN {
        return Err(format!("a {:?} screen", screen.dimensions()));
    }

    // The splash, scaled to the screen the way the renderer does (same 16:9 shape, so it fills it).
    let splash = image::load_from_memory(include_bytes!("../../../assets/splash.png"))
        .unwrap()
        .resize_exact(SCREEN.0, SCREEN.1, image::imageops::FilterType::Triangle)
        .into_rgb8();
    let top_left = screen.get_pixel(0, 0).0;
    let expected_top_left = [35u8, 57, 93];
    if !top_left
        .iter()
        .zip(expected_top_left)
        .all(|(a, b)| a.abs_diff(b) <= 6)
    {
        return Err(format!(
            "top-left pixel {top_left:?}, expected about {expected_top_left:?}"
        ));
    }
    // Every 16th pixel, corners and edges included, is the splash's: nothing is black or missing.
    let mut worst = 0u8;
    let mut total = 0u64;
    let mut samples = 0u64;
    for y in (0..SCREEN.1).step_by(16).chain([SCREEN.1 - 1]) {
        for x in (0..SCREEN.0).step_by(16).chain([SCREEN.0 - 1]) {
            let delta = screen
                .get_pixel(x, y)
                .0
                .iter()
                .zip(splash.get_pixel(x, y).0)
                .map(|(a, b)| a.abs_diff(b))
                .max()
                .unwrap();
            worst = worst.max(delta);
            total += u64::from(delta);
            samples += 1;
        }
    }
    let mean = total as f64 / samples as f64;
    // Resampling filters differ (GPU bilinear against a CPU triangle filter) at the splash's
    // text edges; the mean stays near zero only if the picture covers the screen where it should.
    if mean < 4.0 {
        Ok(())
    } else {
        Err(format!(
            "mean difference {mean:.1} (worst {worst}) from the splash"
        ))
    }
}
