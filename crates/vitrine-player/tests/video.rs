//! Video items through real GStreamer and a real GPU adapter (lavapipe with `WGPU_BACKEND=vulkan`,
//! llvmpipe with `WGPU_BACKEND=gl`; `cargo xtask test` runs this file on both). Clips are made at
//! test time with `gst-launch-1.0 ... x264enc` and `ffmpeg` (both Debian packages), in flat colours
//! whose RGB values are known, so every check reads pixels back and compares colours.
//!
//! **Tolerance:** a video colour matches when every channel is within 6 of the expected value:
//! H.264 and 4:2:0 chroma leave flat colours within a step or two, and the conversion rounds once
//! more. A wrong matrix is off by 20 or more (BT.709 red through BT.601 numbers is 233, 0, 10 at
//! best), so the tolerance cannot hide one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gstreamer::glib;
use vitrine_player::events::{PlayerEvent, SharedSink};
use vitrine_player::render::{ContentKey, Fit, Gpu, OFFSCREEN_FORMAT, Offscreen, Renderer, Scene};
use vitrine_player::video::{
    AudioOutput, DecoderChoice, VideoEvent, VideoPool, VideoRequest, VideoSettings,
};

const COLOUR_TOLERANCE: u8 = 6;

fn gpu() -> Gpu {
    Gpu::headless().expect("a GPU adapter (lavapipe or llvmpipe in CI)")
}

/// How a test clip's colours are encoded.
#[derive(Clone, Copy, Debug)]
enum Encoding {
    /// Limited range (16..235), tagged with this matrix (`bt601` or `bt709`).
    Limited(&'static str),
    /// Full range (0..255), BT.709. Matroska: mp4's `colr` box loses the range in GStreamer's
    /// demuxer.
    FullBt709,
}

/// Makes a 320x180, 30 fps H.264 clip showing each of `colours` (`red`, `green`, `blue`,
/// `white`) for `seconds`, one after another. A single limited-range colour is made by
/// GStreamer's `videotestsrc ! x264enc`; sequences and full range by ffmpeg, whose `concat`
/// keeps every frame's timestamp exact.
fn make_clip(
    directory: &Path,
    name: &str,
    colours: &[&str],
    seconds: f32,
    encoding: Encoding,
) -> PathBuf {
    std::fs::create_dir_all(directory).unwrap();
    if let ([colour], Encoding::Limited(matrix)) = (colours, encoding) {
        let path = directory.join(format!("{name}.mp4"));
        let frames = (seconds * 30.0).round() as u32;
        let status = Command::new("gst-launch-1.0")
            .arg("-q")
            .args(
                format!(
                    "videotestsrc pattern={colour} num-buffers={frames} ! \
                     video/x-raw,width=320,height=180,framerate=30/1,format=I420,colorimetry={matrix} ! \
                     x264enc ! mp4mux ! filesink location={}",
                    path.display()
                )
                .split_whitespace(),
            )
            .status()
            .expect("gst-launch-1.0 (gstreamer1.0-tools; `cargo xtask setup` installs it)");
        assert!(status.success(), "gst-launch-1.0 could not make {name}");
        return path;
    }
    let (extension, range, colorspace, pixels) = match encoding {
        Encoding::Limited("bt601") => ("mp4", "tv", "smpte170m", "yuv420p"),
        Encoding::Limited(_) => ("mp4", "tv", "bt709", "yuv420p"),
        Encoding::FullBt709 => ("mkv", "pc", "bt709", "yuvj420p"),
    };
    let matrix = if colorspace == "bt709" {
        "bt709"
    } else {
        "bt601"
    };
    let path = directory.join(format!("{name}.{extension}"));
    let mut command = Command::new("ffmpeg");
    command.args(["-loglevel", "error", "-y"]);
    for colour in colours {
        let ffmpeg_colour = if *colour == "green" { "lime" } else { colour };
        command.args([
            "-f",
            "lavfi",
            "-i",
            &format!("color=c={ffmpeg_colour}:s=320x180:r=30:d={seconds}"),
        ]);
    }
    let inputs: String = (0..colours.len())
        .map(|index| format!("[{index}]"))
        .collect();
    let out_range = if range == "pc" { "full" } else { "tv" };
    command.args([
        "-filter_complex",
        &format!(
            "{inputs}concat=n={}:v=1,scale=out_range={out_range}:out_color_matrix={matrix},format={pixels}",
            colours.len()
        ),
        "-color_range",
        range,
        "-colorspace",
        colorspace,
        "-c:v",
        "libx264",
    ]);
    command.arg(&path);
    let status = command
        .status()
        .expect("ffmpeg (`cargo xtask setup` installs it)");
    assert!(status.success(), "ffmpeg could not make {name}");
    path
}

fn rgb_of(colour: &str) -> [u8; 3] {
    match colour {
        "red" => [255, 0, 0],
        "green" => [0, 255, 0],
        "blue" => [0, 0, 255],
        "white" => [255, 255, 255],
        "black" => [0, 0, 0],
        other => panic!("no test colour {other}"),
    }
}

fn close_to(actual: [u8; 4], expected: [u8; 3]) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(actual, expected)| actual.abs_diff(expected) <= COLOUR_TOLERANCE)
}

fn pool(sender: mpsc::Sender<PlayerEvent>) -> VideoPool {
    let sink: SharedSink = Arc::new(sender);
    VideoPool::new(
        sink,
        VideoSettings {
            decoder: DecoderChoice::Software,
            audio: AudioOutput::Null,
            master_volume: 1.0,
        },
    )
    .expect("GStreamer with its base, good and libav plugins")
}

/// Waits for the first frame of `key` and uploads it; fails after ten seconds.
fn first_frame(
    pool: &mut VideoPool,
    events: &mpsc::Receiver<PlayerEvent>,
    gpu: &Gpu,
    renderer: &mut Renderer,
    key: &ContentKey,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for frame in pool.take_frames() {
            frame
                .with_planes(|planes| renderer.upload_video_frame(gpu, &frame.key, planes))
                .unwrap()
                .unwrap();
        }
        if renderer.has(key) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no frame of {key} within ten seconds");
        match events.recv_timeout(left) {
            Ok(PlayerEvent::Video(VideoEvent::Failed { error, .. })) => panic!("{key}: {error}"),
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the event channel closed"),
        }
    }
}

fn draw(gpu: &Gpu, renderer: &mut Renderer, key: &ContentKey) -> image::RgbaImage {
    let offscreen = Offscreen::new(gpu, 64, 36);
    let scene = Scene::single(key.clone(), Fit::Stretch);
    renderer.render(gpu, offscreen.view(), offscreen.size(), &scene);
    offscreen.read_pixels(gpu).unwrap()
}

#[test]
fn flat_colours_survive_every_matrix_and_range() {
    let scratch = tempfile::tempdir().unwrap();
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let (sender, events) = mpsc::channel();
    let mut pool = pool(sender);
    let encodings = [
        Encoding::Limited("bt601"),
        Encoding::Limited("bt709"),
        Encoding::FullBt709,
    ];
    let mut failures = Vec::new();
    for encoding in encodings {
        for colour in ["red", "green", "blue", "white"] {
            let name = format!("{colour}-{encoding:?}").replace(['(', ')', '"'], "");
            let path = make_clip(scratch.path(), &name, &[colour], 0.5, encoding);
            let key = ContentKey::Generated(name.clone());
            pool.prepare(&VideoRequest {
                key: key.clone(),
                name: String::new(),
                path,
                sound: None,
                start_offset: Duration::ZERO,
            })
            .unwrap();
            first_frame(&mut pool, &events, &gpu, &mut renderer, &key);
            let frame = draw(&gpu, &mut renderer, &key);
            let centre = frame.get_pixel(32, 18).0;
            if !close_to(centre, rgb_of(colour)) {
                failures.push(format!("{name}: {centre:?}, expected {:?}", rgb_of(colour)));
            }
            pool.retain(&HashSet::new());
            renderer.remove_video(&key);
        }
    }
    assert!(
        failures.is_empty(),
        "colours changed:\n{}",
        failures.join("\n")
    );
    assert!(pool.is_empty(), "every pipeline was stopped");
    // What the heartbeat and the metrics report: the element decodebin plugged, a software video
    // decoder as the settings asked.
    let decoder = vitrine_player::video::decoder_in_use().expect("a decoder was used");
    let factory = gstreamer::ElementFactory::find(&decoder).expect("a GStreamer element");
    let klass = factory.klass();
    assert!(
        klass.contains("Decoder") && klass.contains("Video") && !klass.contains("Hardware"),
        "{decoder}: {klass}"
    );
}

#[test]
fn a_file_that_is_not_a_video_fails_with_a_reason_and_nothing_is_drawn() {
    let scratch = tempfile::tempdir().unwrap();
    let broken = scratch.path().join("broken.mp4");
    std::fs::write(
        &broken,
        b"this is not a video at all, just bytes".repeat(100),
    )
    .unwrap();
    let (sender, events) = mpsc::channel();
    let mut pool = pool(sender);
    let key = ContentKey::Generated("broken".into());
    pool.prepare(&VideoRequest {
        key: key.clone(),
        name: "`broken.mp4` (item `promo-3`)".into(),
        path: broken,
        sound: None,
        start_offset: Duration::ZERO,
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let error = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(PlayerEvent::Video(VideoEvent::Failed { id, error })) => {
                assert_eq!(pool.fail(id), Some(key.clone()));
                break error;
            }
            Ok(_) => {}
            Err(error) => panic!("no failure reported: {error}"),
        }
    };
    assert!(
        error.starts_with("cannot play `broken.mp4` (item `promo-3`): "),
        "the error names the file and item as the staff wrote them: {error}"
    );
    assert!(pool.take_frames().is_empty(), "no frame from a broken file");
    assert!(pool.is_empty(), "the failed pipeline is gone");
}

/// What the top centre of a rendered frame shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Red,
    Green,
    Blue,
    White,
    Black,
    Other([u8; 3]),
}

fn classify(pixel: [u8; 4]) -> Seen {
    let [red, green, blue, _] = pixel;
    let is = |colour: &str| close_to(pixel, rgb_of(colour));
    if is("red") {
        Seen::Red
    } else if is("green") {
        Seen::Green
    } else if is("blue") {
        Seen::Blue
    } else if is("white") {
        Seen::White
    } else if red <= 8 && green <= 8 && blue <= 8 {
        Seen::Black
    } else {
        Seen::Other([red, green, blue])
    }
}

/// Every frame a headless player wrote, by the instant it shows (Unix milliseconds).
fn seen_frames(directory: &Path) -> Vec<(i64, Seen)> {
    let mut frames: Vec<(i64, Seen)> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    let millis = name
                        .strip_prefix("frame-")?
                        .strip_suffix(".png")?
                        .parse()
                        .ok()?;
                    let frame = image::open(entry.path()).ok()?.to_rgba8();
                    Some((millis, classify(frame.get_pixel(frame.width() / 2, 8).0)))
                })
                .collect()
        })
        .unwrap_or_default();
    frames.sort_by_key(|(millis, _)| *millis);
    frames
}

/// A headless player (the real binary) in standalone mode on `folder`, writing every frame.
struct HeadlessPlayer {
    child: std::process::Child,
    data: PathBuf,
    frames: PathBuf,
    /// Where its `/metrics` listener is.
    metrics: String,
}

impl HeadlessPlayer {
    fn start(root: &Path, folder: &Path) -> Self {
        let runtime = root.join("xdg-runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let data = root.join("player");
        let frames = root.join("frames");
        let config = root.join("player.toml");
        let metrics = format!(
            "127.0.0.1:{}",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        );
        // A DRM directory laid out like sysfs, whose one connected display is asleep: what every
        // play records as the display's state.
        let drm = root.join("drm");
        let connector = drm.join("card0-HDMI-A-1");
        std::fs::create_dir_all(&connector).unwrap();
        std::fs::write(connector.join("status"), "connected\n").unwrap();
        std::fs::write(connector.join("enabled"), "enabled\n").unwrap();
        std::fs::write(connector.join("dpms"), "Standby\n").unwrap();
        std::fs::write(
            &config,
            format!(
                "[video]\ndecoder = \"software\"\n[metrics]\nlisten = \"{metrics}\"\n\
                 [display]\ndrm_dir = \"{}\"\n",
                drm.display()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vitrine-player"))
            .arg("--config")
            .arg(&config)
            .args(["--headless", "--size", "160x90", "--fps", "20"])
            .args(["--frame-interval", "50ms"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--frames-dir")
            .arg(&frames)
            .arg("--playlist")
            .arg(folder)
            .env("XDG_RUNTIME_DIR", &runtime)
            .spawn()
            .expect("the vitrine-player binary");
        Self {
            child,
            data,
            frames,
            metrics,
        }
    }

    /// Its `/metrics`, parsed.
    fn scrape(&self) -> prometheus_parse::Scrape {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(&self.metrics).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_owned()))).unwrap()
    }

    /// Sends SIGTERM, as systemd does, and expects a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the player exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the player did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The journalled plays, as JSON.
    fn plays(&self) -> Vec<serde_json::Value> {
        self.bodies()
            .iter()
            .map(|body| serde_json::from_str(body).unwrap())
            .collect()
    }

    /// The journal's records exactly as stored, in sequence order.
    fn bodies(&self) -> Vec<String> {
        let connection = rusqlite::Connection::open_with_flags(
            self.data.join("player.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut statement = connection
            .prepare("SELECT body FROM journal ORDER BY sequence")
            .unwrap();
        statement
            .query_map([], |row| row.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

impl Drop for HeadlessPlayer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The loop of the gapless test, 6 s, anchored to the Unix epoch like every loop: a blue image
/// for 2 s, a clip that is red for 0.5 s then green for 0.5 s (so it plays twice in its 2 s
/// turn), then a white clip that crossfades in over 400 ms.
const GAPLESS_PLAYLIST: &str = "version: 1
name: video-test
items:
  - image: { file: blue.png, duration: 2s }
  - video: { file: red-green.mp4, duration: 2s }
  - video: { file: white.mp4, duration: 2s, transition: { crossfade: 400ms } }
";

/// What the gapless playlist shows at `millis`, when the instant is far enough from a switch
/// (and from the red/green change inside the clip) to tell.
fn expected_at(millis: i64) -> Option<Seen> {
    let phase = millis.rem_euclid(6_000);
    let settled = |offset: i64, period: i64| {
        let into = offset.rem_euclid(period);
        (150..=period - 150).contains(&into)
    };
    match phase {
        0..2_000 => settled(phase, 2_000).then_some(Seen::Blue),
        2_000..4_000 => {
            let into_clip = (phase - 2_000) % 1_000;
            if !settled(into_clip, 500) {
                None
            } else if into_clip < 500 {
                Some(Seen::Red)
            } else {
                Some(Seen::Green)
            }
        }
        _ => (4_500..=5_850).contains(&phase).then_some(Seen::White),
    }
}

#[test]
fn image_then_videos_play_on_time_gaplessly_and_are_journalled() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let shop = root.join("shop");
    make_clip(
        &shop,
        "red-green",
        &["red", "green"],
        0.5,
        Encoding::Limited("bt709"),
    );
    make_clip(&shop, "white", &["white"], 2.5, Encoding::Limited("bt709"));
    image::RgbImage::from_pixel(64, 36, image::Rgb([0, 0, 255]))
        .save(shop.join("blue.png"))
        .unwrap();
    std::fs::write(shop.join("playlist.yaml"), GAPLESS_PLAYLIST).unwrap();

    let player = HeadlessPlayer::start(root, &shop);
    // Two whole loops after the first video frame.
    wait_for("a video on screen", Duration::from_secs(60), || {
        seen_frames(&player.frames)
            .iter()
            .any(|(_, seen)| matches!(seen, Seen::Red | Seen::Green | Seen::White))
    });
    let first_video = seen_frames(&player.frames)
        .iter()
        .find(|(_, seen)| matches!(seen, Seen::Red | Seen::Green | Seen::White))
        .map(|(millis, _)| *millis)
        .unwrap();
    let until = first_video + 12_500;
    wait_for("two loops", Duration::from_secs(30), || {
        seen_frames(&player.frames)
            .last()
            .is_some_and(|(millis, _)| *millis >= until)
    });
    let bodies_before_stop = player.bodies();
    let plays_before_stop = player.plays();
    let frames = seen_frames(&player.frames);
    let frames_dir = player.frames.clone();
    // Monitoring names the decoder the clips used: a software video decoder, as configured.
    let scrape = player.scrape();
    let decoders: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == "vitrine_player_video_decoder_info")
        .filter_map(|sample| sample.labels.get("decoder"))
        .collect();
    assert_eq!(decoders.len(), 1, "{decoders:?}");
    gstreamer::init().unwrap();
    let klass = gstreamer::ElementFactory::find(decoders[0])
        .expect("a GStreamer element")
        .klass()
        .to_owned();
    assert!(
        klass.contains("Decoder") && klass.contains("Video") && !klass.contains("Hardware"),
        "{}: {klass}",
        decoders[0]
    );
    player.stop();

    // From the first picture on, never a black frame: not between image and video, not between
    // two videos, not when a clip loops.
    let first_picture = frames
        .iter()
        .position(|(_, seen)| *seen != Seen::Other([0; 3]) && *seen != Seen::Black)
        .unwrap_or(0);
    let black: Vec<i64> = frames[first_picture..]
        .iter()
        .filter(|(_, seen)| *seen == Seen::Black)
        .map(|(millis, _)| millis.rem_euclid(6_000))
        .collect();
    assert!(black.is_empty(), "black frames at loop phases {black:?}");

    // Every settled frame from the first video on shows what the schedule says, at its time.
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (millis, seen) in frames
        .iter()
        .filter(|(millis, _)| (first_video + 500..=until).contains(millis))
    {
        if let Some(expected) = expected_at(*millis) {
            checked += 1;
            if *seen != expected {
                wrong.push(format!(
                    "{} ms into the loop: {seen:?}, expected {expected:?}",
                    millis.rem_euclid(6_000)
                ));
            }
        }
    }
    assert!(
        checked >= 80,
        "only {checked} frames checked in {}",
        frames_dir.display()
    );
    assert!(
        wrong.is_empty(),
        "{} of {checked} frames wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Proof of play: each video turn that ran whole is one completed play of that turn, turn after
    // turn with none lost or counted twice: the red-green clip's turn starts 2 s into the 6 s
    // loop, the white clip's 4 s in, and each play lasts at least to its turn's end.
    let video_plays: Vec<&serde_json::Value> = plays_before_stop
        .iter()
        .filter(|play| play["item_id"] != "item-1")
        .collect();
    assert!(video_plays.len() >= 3, "{plays_before_stop:#?}");
    let instant = |play: &serde_json::Value, field: &str| {
        play[field]
            .as_str()
            .and_then(|text| text.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(|| panic!("no {field} in {play}"))
            .as_millisecond()
    };
    for play in &video_plays[1..] {
        let scheduled = instant(play, "scheduled_start");
        // A play is complete unless it started late: on two busy cores a clip's first frame can
        // come a few refreshes after its turn began, and how late is the bench's figure (item
        // start accuracy), not this test's. It is never cut short: it stays to its turn's end.
        let late_ms = instant(play, "started_at") - scheduled;
        assert!(
            play["completed"] == true || late_ms > 16,
            "an on-time play that is not complete: {play}"
        );
        let expected_phase = if play["item_id"] == "item-2" {
            2_000
        } else {
            4_000
        };
        assert_eq!(scheduled.rem_euclid(6_000), expected_phase, "{play}");
        assert!(
            instant(play, "ended_at") >= scheduled + 2_000,
            "left the screen before its turn ended: {play}"
        );
    }
    for pair in video_plays[1..].windows(2) {
        let step = instant(pair[1], "scheduled_start") - instant(pair[0], "scheduled_start");
        let expected = if pair[0]["item_id"] == "item-2" {
            2_000
        } else {
            4_000
        };
        assert_eq!(step, expected, "the next turn, once: {pair:#?}");
    }

    // Every record says the display was asleep, as the DRM directory has it, names this player's
    // version, and links to the record before it by the digest of that record's very bytes.
    assert!(bodies_before_stop.len() >= 2, "{bodies_before_stop:#?}");
    for play in &plays_before_stop {
        assert_eq!(play["display"], "off", "{play}");
        assert_eq!(play["player_version"], env!("CARGO_PKG_VERSION"), "{play}");
    }
    assert_eq!(plays_before_stop[0]["sequence"], 1);
    assert!(plays_before_stop[0].get("previous").is_none());
    for (index, pair) in bodies_before_stop.windows(2).enumerate() {
        let next = &plays_before_stop[index + 1];
        assert_eq!(next["sequence"], index as u64 + 2, "{next}");
        assert_eq!(
            next["previous"],
            vitrine_core::Sha256Hex::of_bytes(pair[0].as_bytes()).as_str(),
            "{next}"
        );
    }
}

#[test]
fn a_broken_video_is_skipped_and_the_previous_picture_stays() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let shop = root.join("shop");
    std::fs::create_dir_all(&shop).unwrap();
    std::fs::write(
        shop.join("broken.mp4"),
        b"\x00\x00\x00\x18ftypmp42 but then nothing".repeat(64),
    )
    .unwrap();
    image::RgbImage::from_pixel(64, 36, image::Rgb([0, 0, 255]))
        .save(shop.join("blue.png"))
        .unwrap();
    std::fs::write(
        shop.join("playlist.yaml"),
        "version: 1\nname: broken\nitems:\n  - image: { file: blue.png, duration: 1s }\n  - video: { file: broken.mp4, duration: 1s }\n",
    )
    .unwrap();
    let player = HeadlessPlayer::start(root, &shop);
    wait_for("blue on screen", Duration::from_secs(60), || {
        seen_frames(&player.frames)
            .iter()
            .any(|(_, seen)| *seen == Seen::Blue)
    });
    let first_blue = seen_frames(&player.frames)
        .iter()
        .find(|(_, seen)| *seen == Seen::Blue)
        .unwrap()
        .0;
    wait_for("four turns", Duration::from_secs(30), || {
        seen_frames(&player.frames)
            .last()
            .is_some_and(|(millis, _)| *millis >= first_blue + 4_000)
    });
    let after: Vec<(i64, Seen)> = seen_frames(&player.frames)
        .into_iter()
        .filter(|(millis, _)| *millis >= first_blue)
        .collect();
    assert!(after.len() >= 60, "frames kept coming: {}", after.len());
    assert!(
        after.iter().all(|(_, seen)| *seen == Seen::Blue),
        "the image stays through the broken video's turns: {after:?}"
    );
    player.stop();
}

/// A clip with a soundtrack: 1 s of red with a 440 Hz tone.
fn make_clip_with_sound(directory: &Path) -> PathBuf {
    std::fs::create_dir_all(directory).unwrap();
    let path = directory.join("red-with-sound.mp4");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "color=c=red:s=320x180:r=30:d=1"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=1"])
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    path
}

#[test]
fn a_soundtrack_played_or_silenced_never_holds_the_picture_back() {
    let scratch = tempfile::tempdir().unwrap();
    let path = make_clip_with_sound(scratch.path());
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let (sender, events) = mpsc::channel();
    let mut pool = pool(sender);
    for (name, sound) in [("with-sound", Some(0.5)), ("silent", None)] {
        let key = ContentKey::Generated(name.into());
        pool.prepare(&VideoRequest {
            key: key.clone(),
            name: String::new(),
            path: path.clone(),
            sound,
            start_offset: Duration::ZERO,
        })
        .unwrap();
        first_frame(&mut pool, &events, &gpu, &mut renderer, &key);
        assert!(close_to(
            draw(&gpu, &mut renderer, &key).get_pixel(32, 18).0,
            rgb_of("red")
        ));
        // Playing, the frames come in real time: the audio clock (the null output, consumed
        // in real time) drives them, and a silent item's sound is dropped without stalling. The
        // 30 fps clip (it loops) gives 30 frames in 0.97 s; held back to half speed they would
        // take 1.93 s, and decoded as fast as possible well under 0.7 s.
        pool.play(&HashSet::from([key.clone()]));
        let started = Instant::now();
        let mut arrivals = Vec::new();
        while arrivals.len() < 30 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name}: only {} frames in 30 s",
                arrivals.len()
            );
            for _ in pool.take_frames() {
                arrivals.push(Instant::now());
            }
            if let Ok(PlayerEvent::Video(VideoEvent::Failed { error, .. })) =
                events.recv_timeout(Duration::from_millis(5))
            {
                panic!("{name}: {error}");
            }
        }
        let span = arrivals[29].duration_since(arrivals[0]);
        assert!(
            (Duration::from_millis(700)..=Duration::from_millis(1_450)).contains(&span),
            "{name}: 30 frames of a 30 fps clip took {span:?}"
        );
        pool.retain(&HashSet::new());
        renderer.remove_video(&key);
    }
}

/// NV12 (what hardware decoders give) and I420 with padded rows, from planes written by hand:
/// 8-bit BT.709 limited-range red is Y 63, U 102, V 240; BT.601 green is Y 145, U 54, V 34.
#[test]
fn nv12_and_padded_i420_planes_draw_their_colours() {
    use vitrine_player::render::{Chroma, Plane, YuvColour, YuvFrame, YuvMatrix};
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let (width, height) = (40u32, 20u32);
    let stride = 64u32;
    let luma = |value: u8| vec![value; (stride * height) as usize];
    let chroma_rows = height / 2;
    let cases = [
        ("red", YuvMatrix::Bt709, [63u8, 102, 240], false),
        ("green", YuvMatrix::Bt601, [145, 54, 34], true),
    ];
    for (colour, matrix, [y, u, v], planar) in cases {
        let y_plane = luma(y);
        let interleaved: Vec<u8> = [u, v].repeat((stride / 2 * chroma_rows) as usize);
        let u_plane = vec![u; (stride * chroma_rows) as usize];
        let v_plane = vec![v; (stride * chroma_rows) as usize];
        let frame = YuvFrame {
            width,
            height,
            luma: Plane {
                data: &y_plane,
                stride,
            },
            chroma: if planar {
                Chroma::Planar {
                    u: Plane {
                        data: &u_plane,
                        stride,
                    },
                    v: Plane {
                        data: &v_plane,
                        stride,
                    },
                }
            } else {
                Chroma::Interleaved(Plane {
                    data: &interleaved,
                    stride,
                })
            },
            colour: YuvColour {
                matrix,
                full_range: false,
            },
        };
        let key = ContentKey::Generated(colour.into());
        renderer.upload_video_frame(&gpu, &key, &frame).unwrap();
        let drawn = draw(&gpu, &mut renderer, &key);
        for (x, y) in [(1, 1), (32, 18), (62, 34)] {
            let pixel = drawn.get_pixel(x, y).0;
            assert!(
                close_to(pixel, rgb_of(colour)),
                "{colour} ({}): {pixel:?} at ({x}, {y})",
                if planar { "I420" } else { "NV12" }
            );
        }
    }
    // A plane shorter than its stride and rows promise is refused, not handed to the driver.
    let short = vec![0u8; 100];
    let error = renderer
        .upload_video_frame(
            &gpu,
            &ContentKey::Generated("short".into()),
            &YuvFrame {
                width,
                height,
                luma: Plane {
                    data: &short,
                    stride,
                },
                chroma: Chroma::Interleaved(Plane {
                    data: &short,
                    stride,
                }),
                colour: YuvColour {
                    matrix: YuvMatrix::Bt709,
                    full_range: false,
                },
            },
        )
        .unwrap_err();
    assert!(error.contains("too small"), "{error}");
}

#[test]
fn a_play_joined_midway_starts_its_clip_where_its_turn_is() {
    let scratch = tempfile::tempdir().unwrap();
    // Red for 1 s, then green for 1 s: joined 1.4 s into its turn, the first frame is green.
    let path = make_clip(
        scratch.path(),
        "red-then-green",
        &["red", "green"],
        1.0,
        Encoding::Limited("bt709"),
    );
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let (sender, events) = mpsc::channel();
    let mut pool = pool(sender);
    for (offset_ms, expected) in [(0, "red"), (1_400, "green"), (3_400, "green")] {
        let key = ContentKey::Generated(format!("joined-{offset_ms}"));
        pool.prepare(&VideoRequest {
            key: key.clone(),
            name: String::new(),
            path: path.clone(),
            sound: None,
            start_offset: Duration::from_millis(offset_ms),
        })
        .unwrap();
        // The frame after the joining seek: wait until the preroll settles.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = None;
        while Instant::now() < deadline {
            first_frame(&mut pool, &events, &gpu, &mut renderer, &key);
            let colour = draw(&gpu, &mut renderer, &key).get_pixel(32, 18).0;
            if close_to(colour, rgb_of(expected)) {
                seen = Some(colour);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            seen.is_some(),
            "{offset_ms} ms into the turn the clip shows {expected}"
        );
        pool.retain(&HashSet::new());
        renderer.remove_video(&key);
    }
}

/// Sets the rotation matrix of an mp4's video track (its `tkhd` box) to a quarter turn
/// clockwise, as phones record a clip filmed upright.
fn tag_quarter_turn(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(4)
        .position(|window| window == b"tkhd")
        .expect("a track header");
    let version = bytes[at + 4];
    // After the box type: version and flags, the times, track id, reserved and duration (wider in
    // version 1), then reserved, layer, alternate group, volume and reserved: then the matrix.
    let times = if version == 1 {
        8 + 8 + 4 + 4 + 8
    } else {
        4 * 5
    };
    let matrix_at = at + 4 + 4 + times + 8 + 2 + 2 + 2 + 2;
    let quarter_turn: [u32; 9] = [0, 0x1_0000, 0, 0xffff_0000, 0, 0, 0, 0, 0x4000_0000];
    for (index, value) in quarter_turn.iter().enumerate() {
        let offset = matrix_at + index * 4;
        bytes[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_phone_clip_tagged_as_turned_is_shown_upright() {
    let scratch = tempfile::tempdir().unwrap();
    // Red on the left half, blue on the right; turned a quarter clockwise, red is on top.
    let path = scratch.path().join("turned.mp4");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "color=c=red:s=160x180:r=30:d=0.5"])
        .args(["-f", "lavfi", "-i", "color=c=blue:s=160x180:r=30:d=0.5"])
        .args([
            "-filter_complex",
            "[0][1]hstack,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
        ])
        .args([
            "-c:v",
            "libx264",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    tag_quarter_turn(&path);
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let (sender, events) = mpsc::channel();
    let mut pool = pool(sender);
    let key = ContentKey::Generated("turned".into());
    pool.prepare(&VideoRequest {
        key: key.clone(),
        name: String::new(),
        path,
        sound: None,
        start_offset: Duration::ZERO,
    })
    .unwrap();
    first_frame(&mut pool, &events, &gpu, &mut renderer, &key);
    // A square target: an upright (portrait) picture fits with bars left and right.
    let offscreen = Offscreen::new(&gpu, 64, 64);
    let scene = Scene::single(key.clone(), Fit::Contain);
    renderer.render(&gpu, offscreen.view(), offscreen.size(), &scene);
    let frame = offscreen.read_pixels(&gpu).unwrap();
    let at = |x: u32, y: u32| frame.get_pixel(x, y).0;
    assert!(close_to(at(32, 8), rgb_of("red")), "top: {:?}", at(32, 8));
    assert!(
        close_to(at(32, 56), rgb_of("blue")),
        "bottom: {:?}",
        at(32, 56)
    );
    assert!(
        close_to(at(2, 32), rgb_of("black")),
        "side bar: {:?}",
        at(2, 32)
    );
}

/// Every GLib critical or warning that GStreamer (or GLib under it) logs in this process from the
/// first call on. The handler replaces GLib's default printer for those domains, so the lines are
/// both kept for the assertion and printed as before.
fn glib_complaints() -> Arc<Mutex<Vec<String>>> {
    static SEEN: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        for domain in ["GStreamer", "GLib", "GLib-GObject"] {
            let seen = seen.clone();
            glib::log_set_handler(
                Some(domain),
                glib::LogLevels::LEVEL_CRITICAL | glib::LogLevels::LEVEL_WARNING,
                false,
                false,
                move |domain, level, message| {
                    let line = format!("{}-{level:?}: {message}", domain.unwrap_or("?"));
                    eprintln!("{line}");
                    seen.lock().unwrap().push(line);
                },
            );
        }
        seen
    })
    .clone()
}

/// Samples the render thread still holds (a frame waiting in its slot, or one being uploaded)
/// when the stream's caps are announced again, as they are after every loop's flushing seek and
/// at every change of clip, must not make GStreamer complain: a screen logging
/// `gst_sample_set_caps: assertion 'gst_sample_is_writable (sample)' failed` for every loop floods
/// its journal.
#[test]
fn plays_that_loop_and_switch_clips_log_no_gstreamer_critical() {
    let complaints = glib_complaints();
    let scratch = tempfile::tempdir().unwrap();
    let small = make_clip(
        scratch.path(),
        "loop-red",
        &["red"],
        0.3,
        Encoding::Limited("bt709"),
    );
    let other = make_clip(
        scratch.path(),
        "loop-blue-green",
        &["blue", "green"],
        0.2,
        Encoding::FullBt709,
    );
    let (sender, events) = mpsc::channel();
    let mut pool = pool(sender);
    let mut held = Vec::new();
    for (turn, path) in [&small, &other, &small, &other].into_iter().enumerate() {
        let key = ContentKey::Generated(format!("loop-{turn}"));
        pool.prepare(&VideoRequest {
            key: key.clone(),
            name: String::new(),
            path: path.clone(),
            sound: None,
            start_offset: Duration::ZERO,
        })
        .unwrap();
        pool.play(&HashSet::from([key.clone()]));
        // Half the turn nobody takes frames (the newest waits in its slot); the other half the
        // newest is taken and held until the next, as an upload holds it.
        let turn_end = Instant::now() + Duration::from_millis(1_500);
        let hold_until = Instant::now() + Duration::from_millis(700);
        while Instant::now() < turn_end {
            if Instant::now() > hold_until {
                let frames = pool.take_frames();
                if !frames.is_empty() {
                    held = frames;
                }
            }
            while let Ok(event) = events.try_recv() {
                if let PlayerEvent::Video(VideoEvent::Failed { error, .. }) = event {
                    panic!("{key}: {error}");
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        pool.retain(&HashSet::new());
    }
    drop(held);
    assert!(
        pool.pipelines_built() < 4,
        "four plays in turn reuse pipelines, {} were built",
        pool.pipelines_built()
    );
    let complaints = complaints.lock().unwrap().clone();
    assert!(
        complaints.is_empty(),
        "GStreamer complained while videos played:\n{}",
        complaints.join("\n")
    );
}
