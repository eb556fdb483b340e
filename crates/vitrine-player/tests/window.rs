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

/// Runs the real player under Xvfb (with `window_manager` started first, if given) and takes a
/// screenshot of the whole screen after it has settled; returns it with the player's log.
fn screenshot_of_player(window_manager: Option<&str>) -> (image::RgbImage, String) {
    let directory = tempfile::tempdir().unwrap();
    let screenshot = directory.path().join("screen.xwd");
    let data_dir = directory.path().join("data");
    let start_window_manager = window_manager
        // The window manager must really be running, or the test would prove nothing more.
        .map(|command| format!("{command} & wm=$!; sleep 1; kill -0 $wm || exit 3; "))
        .unwrap_or_default();
    let script = format!(
        "{start_window_manager}'{binary}' --data-dir '{data}' --run-for 12s & player=$!; \
         sleep 8; xwd -root -silent -out '{screenshot}'; wait $player",
        binary = env!("CARGO_BIN_EXE_vitrine-player"),
        data = data_dir.display(),
        screenshot = screenshot.display(),
    );
    let output = Command::new("xvfb-run")
        .args([
            "-a",
            "-s",
            &format!("-screen 0 {}x{}x24", SCREEN.0, SCREEN.1),
            "sh",
            "-c",
            &script,
        ])
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("xvfb-run (packages xvfb and xauth; `cargo xtask setup`)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the player under Xvfb failed:\n{log}"
    );
    let bytes = std::fs::read(&screenshot)
        .unwrap_or_else(|error| panic!("no screenshot ({error}):\n{log}"));
    (parse_xwd(&bytes), log)
}

#[test]
fn the_window_covers_the_screen_with_the_splash_under_xvfb() {
    let (screen, log) = screenshot_of_player(None);
    assert_the_splash_covers(&screen, &log);
}

/// With a window manager (the kiosk setup of a store PC) the window is borderless fullscreen too.
#[test]
fn the_window_covers_the_screen_under_a_window_manager() {
    let (screen, log) = screenshot_of_player(Some("matchbox-window-manager -use_titlebar no"));
    assert_the_splash_covers(&screen, &log);
}

fn assert_the_splash_covers(screen: &image::RgbImage, log: &str) {
    assert_eq!(screen.dimensions(), SCREEN);

    // The splash, scaled to the screen the way the renderer does (same 16:9 shape, so it fills it).
    let splash = image::load_from_memory(include_bytes!("../../../assets/splash.png"))
        .unwrap()
        .resize_exact(SCREEN.0, SCREEN.1, image::imageops::FilterType::Triangle)
        .into_rgb8();
    let top_left = screen.get_pixel(0, 0).0;
    let expected_top_left = [35u8, 57, 93];
    assert!(
        top_left
            .iter()
            .zip(expected_top_left)
            .all(|(a, b)| a.abs_diff(b) <= 6),
        "top-left pixel {top_left:?}, expected about {expected_top_left:?}\n{log}"
    );
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
    assert!(
        mean < 4.0,
        "mean difference {mean:.1} (worst {worst}) from the splash\n{log}"
    );
}
