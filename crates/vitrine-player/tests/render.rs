//! The renderer on a real GPU adapter: Mesa's lavapipe (`WGPU_BACKEND=vulkan`) or llvmpipe
//! (`WGPU_BACKEND=gl`) on machines without a GPU. `cargo xtask test` runs this file on both.
//! A missing adapter fails these tests; it never skips them.
//!
//! Golden images live in `tests/goldens/`. **Tolerance:** a pixel matches when every channel is
//! within 8 of the golden's (drivers differ by a step or two in bilinear sampling and blending);
//! at most 0.5 % of pixels may differ by more (antialiased glyph and quad edges). On a mismatch the
//! test writes `NAME-actual.png` and `NAME-difference.png` (differing pixels in red) into
//! `target/golden-failures/`. `UPDATE_GOLDENS=1` rewrites the goldens from the current frames.

use std::path::PathBuf;
use std::time::Duration;

use vitrine_core::Sha256Hex;
use vitrine_core::offer::CardPrice;
use vitrine_player::decode::DecodedImage;
use vitrine_player::render::{
    Color, ContentKey, Fit, Gpu, Layer, OFFSCREEN_FORMAT, OfferCard, OfferTemplate, Offscreen,
    Renderer, Rotation, Scene, SlideDirection, TextAlign, TextSpec, TextureBudget, TickerSpec,
    Transition, ZoneScene, transition_layers,
};

const CHANNEL_TOLERANCE: u8 = 8;
const MAX_DIFFERING_SHARE: f64 = 0.005;

fn gpu() -> Gpu {
    Gpu::headless().expect("a GPU adapter (lavapipe or llvmpipe in CI)")
}

fn solid(name: &str, width: u32, height: u32, rgba: [u8; 4]) -> DecodedImage {
    DecodedImage::still(
        Sha256Hex::of_bytes(name.as_bytes()),
        width,
        height,
        rgba.repeat((width * height) as usize),
    )
}

/// A picture whose placement shows in a golden: four coloured quadrants and a white border.
fn pattern(name: &str, width: u32, height: u32) -> DecodedImage {
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let border = x < 2 || y < 2 || x >= width - 2 || y >= height - 2;
            let pixel = if border {
                [255, 255, 255, 255]
            } else {
                match (x < width / 2, y < height / 2) {
                    (true, true) => [220, 40, 40, 255],
                    (false, true) => [40, 180, 60, 255],
                    (true, false) => [40, 70, 220, 255],
                    (false, false) => [240, 200, 40, 255],
                }
            };
            rgba.extend_from_slice(&pixel);
        }
    }
    DecodedImage::still(Sha256Hex::of_bytes(name.as_bytes()), width, height, rgba)
}

fn key(image: &DecodedImage) -> ContentKey {
    ContentKey::Media(image.sha256.clone())
}

/// Sampling may differ by one step between drivers; flat colours must otherwise be exact.
fn assert_pixel(frame: &image::RgbaImage, x: u32, y: u32, expected: [u8; 4]) {
    let actual = frame.get_pixel(x, y).0;
    let close = actual
        .iter()
        .zip(expected)
        .all(|(actual, expected)| actual.abs_diff(expected) <= 1);
    assert!(
        close,
        "pixel ({x}, {y}) is {actual:?}, expected {expected:?}"
    );
}

fn goldens_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens")
}

fn failures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/golden-failures")
}

/// Compares `frame` with `tests/goldens/NAME.png` within the stated tolerance.
fn check_golden(name: &str, frame: &image::RgbaImage) {
    let golden_path = goldens_dir().join(format!("{name}.png"));
    if std::env::var_os("UPDATE_GOLDENS").is_some() {
        std::fs::create_dir_all(goldens_dir()).unwrap();
        frame.save(&golden_path).unwrap();
        return;
    }
    let golden = image::open(&golden_path)
        .unwrap_or_else(|error| {
            panic!(
                "cannot read golden {}: {error} (UPDATE_GOLDENS=1 writes it)",
                golden_path.display()
            )
        })
        .into_rgba8();
    assert_eq!(
        golden.dimensions(),
        frame.dimensions(),
        "{name}: size differs"
    );
    let mut difference = image::RgbaImage::new(frame.width(), frame.height());
    let mut differing = 0usize;
    let mut worst = 0u8;
    for (x, y, actual) in frame.enumerate_pixels() {
        let expected = golden.get_pixel(x, y);
        let delta = actual
            .0
            .iter()
            .zip(expected.0)
            .map(|(actual, expected)| actual.abs_diff(expected))
            .max()
            .unwrap_or(0);
        worst = worst.max(delta);
        let shown = if delta > CHANNEL_TOLERANCE {
            differing += 1;
            [255, 0, 0, 255]
        } else {
            let grey = actual.0[0] / 4;
            [grey, grey, grey, 255]
        };
        difference.put_pixel(x, y, image::Rgba(shown));
    }
    let share = differing as f64 / (frame.width() * frame.height()) as f64;
    if share > MAX_DIFFERING_SHARE {
        let directory = failures_dir();
        std::fs::create_dir_all(&directory).unwrap();
        let actual_path = directory.join(format!("{name}-actual.png"));
        let difference_path = directory.join(format!("{name}-difference.png"));
        frame.save(&actual_path).unwrap();
        difference.save(&difference_path).unwrap();
        panic!(
            "{name}: {differing} pixels ({:.2} %) differ by more than {CHANNEL_TOLERANCE} (worst {worst}); \
             see {} and {}",
            share * 100.0,
            actual_path.display(),
            difference_path.display()
        );
    }
}

fn full(layers: Vec<Layer>) -> Scene {
    Scene {
        background: Color::BLACK,
        rotation: Rotation::Deg0,
        zones: vec![ZoneScene {
            rect: [0.0, 0.0, 1.0, 1.0],
            background: Some(Color::rgb(30, 30, 30)),
            layers,
        }],
        overlay: None,
    }
}

#[test]
fn runs_on_the_backend_asked_for() {
    let gpu = gpu();
    if let Ok(wanted) = std::env::var("WGPU_BACKEND") {
        let backend = format!("{:?}", gpu.adapter.get_info().backend).to_lowercase();
        assert_eq!(
            backend,
            wanted.to_lowercase(),
            "WGPU_BACKEND={wanted} was not honoured"
        );
    }
}

#[test]
fn draws_an_image_full_screen_in_its_true_colour() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 160, 90);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let red = solid("red", 160, 90, [255, 0, 0, 255]);
    renderer.upload(&gpu, &red);
    let report = renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &Scene::single(key(&red), Fit::Contain),
    );
    assert_eq!(report.gap_zones, 0);
    let frame = target.read_pixels(&gpu).unwrap();
    for (x, y) in [(0, 0), (159, 0), (80, 45), (0, 89), (159, 89)] {
        assert_pixel(&frame, x, y, [255, 0, 0, 255]);
    }
}

#[test]
fn contain_letterboxes_an_image_of_another_shape() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 200, 100);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let blue = solid("blue", 50, 100, [0, 0, 255, 255]);
    renderer.upload(&gpu, &blue);
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &Scene::single(key(&blue), Fit::Contain),
    );
    let frame = target.read_pixels(&gpu).unwrap();
    // 50x100 in 200x100 fills x = 75..125.
    assert_pixel(&frame, 100, 50, [0, 0, 255, 255]);
    assert_pixel(&frame, 76, 50, [0, 0, 255, 255]);
    assert_pixel(&frame, 123, 50, [0, 0, 255, 255]);
    assert_pixel(&frame, 10, 50, [0, 0, 0, 255]);
    assert_pixel(&frame, 190, 50, [0, 0, 0, 255]);
}

#[test]
fn switching_content_replaces_the_whole_frame() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 64, 64);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let red = solid("red", 64, 64, [255, 0, 0, 255]);
    let green = solid("green", 64, 64, [0, 255, 0, 255]);
    renderer.upload(&gpu, &red);
    renderer.upload(&gpu, &green);
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &Scene::single(key(&red), Fit::Cover),
    );
    assert_pixel(&target.read_pixels(&gpu).unwrap(), 32, 32, [255, 0, 0, 255]);
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &Scene::single(key(&green), Fit::Cover),
    );
    let frame = target.read_pixels(&gpu).unwrap();
    assert_pixel(&frame, 0, 0, [0, 255, 0, 255]);
    assert_pixel(&frame, 63, 63, [0, 255, 0, 255]);
}

#[test]
fn transitions_at_their_midpoint_match_their_goldens() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 160, 90);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let outgoing = pattern("outgoing", 160, 90);
    let incoming = solid("incoming", 160, 90, [250, 250, 250, 255]);
    renderer.upload(&gpu, &outgoing);
    renderer.upload(&gpu, &incoming);
    for (name, transition) in [
        ("transition-cut", Transition::Cut),
        ("transition-crossfade", Transition::Crossfade),
        (
            "transition-slide-left",
            Transition::Slide(SlideDirection::Left),
        ),
        ("transition-slide-up", Transition::Slide(SlideDirection::Up)),
    ] {
        let layers = transition_layers(
            Some(Layer::new(key(&outgoing), Fit::Cover)),
            Layer::new(key(&incoming), Fit::Cover),
            transition,
            0.5,
        );
        let report = renderer.render(&gpu, target.view(), target.size(), &full(layers));
        assert_eq!(report.gap_zones, 0, "{name} must cover its zone");
        check_golden(name, &target.read_pixels(&gpu).unwrap());
    }
}

#[test]
fn a_crossfade_mixes_without_dipping_towards_the_background() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 32, 32);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let white = solid("white", 32, 32, [255, 255, 255, 255]);
    let also_white = solid("also white", 32, 32, [255, 255, 255, 255]);
    renderer.upload(&gpu, &white);
    renderer.upload(&gpu, &also_white);
    for progress in [0.1, 0.5, 0.9] {
        let layers = transition_layers(
            Some(Layer::new(key(&white), Fit::Cover)),
            Layer::new(key(&also_white), Fit::Cover),
            Transition::Crossfade,
            progress,
        );
        renderer.render(&gpu, target.view(), target.size(), &full(layers));
        // Two white pictures crossfading stay white: no black flash, ever.
        assert_pixel(
            &target.read_pixels(&gpu).unwrap(),
            16,
            16,
            [255, 255, 255, 255],
        );
    }
}

#[test]
fn a_single_pass_crossfade_draws_what_two_blended_quads_drew() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 192, 108);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    // Pictures of other sizes than the screen (cover crops them differently), one of them
    // half-transparent so the zone background shows through both ways alike.
    let outgoing = pattern("outgoing", 160, 120);
    let incoming = pattern("incoming", 300, 100);
    let mut translucent = pattern("translucent", 96, 54);
    for pixel in translucent.frames[0].rgba.chunks_mut(4) {
        pixel[3] = 140;
    }
    for picture in [&outgoing, &incoming, &translucent] {
        renderer.upload(&gpu, picture);
    }
    let mut compared = 0;
    for (lower, upper) in [(&outgoing, &incoming), (&translucent, &outgoing)] {
        for rotation in [Rotation::Deg0, Rotation::Deg90] {
            for progress in [0.0, 0.3, 0.75] {
                let mut scene = full(transition_layers(
                    Some(Layer::new(key(lower), Fit::Cover)),
                    Layer::new(key(upper), Fit::Cover),
                    Transition::Crossfade,
                    progress,
                ));
                scene.rotation = rotation;
                scene.zones[0].background = Some(Color::rgb(0, 40, 200));
                let mut frame = |single_pass: bool| {
                    renderer.set_single_pass_crossfade(single_pass);
                    let report = renderer.render(&gpu, target.view(), target.size(), &scene);
                    assert_eq!(report.gap_zones, 0);
                    assert_eq!(report.drawn.len(), 2, "both pictures are drawn");
                    target.read_pixels(&gpu).unwrap()
                };
                let (single, two) = (frame(true), frame(false));
                // One rounding step: the two-quad path stores the outgoing picture in the 8-bit
                // target before blending the incoming one over it; one pass blends in floats.
                let worst = single
                    .pixels()
                    .zip(two.pixels())
                    .flat_map(|(a, b)| (0..4).map(move |channel| a[channel].abs_diff(b[channel])))
                    .max()
                    .unwrap_or(0);
                assert!(
                    worst <= 2,
                    "single pass differs from two passes by {worst} at {progress} ({rotation:?})"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 12);
}

#[test]
fn fit_modes_match_their_golden() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 240, 90);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let wide = pattern("wide", 120, 40);
    renderer.upload(&gpu, &wide);
    let zone = |index: usize, fit| ZoneScene {
        rect: [index as f32 / 3.0 + 0.01, 0.05, 1.0 / 3.0 - 0.02, 0.9],
        background: Some(Color::rgb(60, 60, 90)),
        layers: vec![Layer::new(key(&wide), fit)],
    };
    let scene = Scene {
        background: Color::BLACK,
        rotation: Rotation::Deg0,
        zones: vec![
            zone(0, Fit::Contain),
            zone(1, Fit::Cover),
            zone(2, Fit::Stretch),
        ],
        overlay: None,
    };
    renderer.render(&gpu, target.view(), target.size(), &scene);
    check_golden(
        "fit-contain-cover-stretch",
        &target.read_pixels(&gpu).unwrap(),
    );
}

/// A portrait layout: a picture on top, a coloured band at the bottom.
fn portrait_scene(picture: &DecodedImage, rotation: Rotation) -> Scene {
    Scene {
        background: Color::rgb(20, 20, 20),
        rotation,
        zones: vec![
            ZoneScene {
                rect: [0.0, 0.0, 1.0, 0.7],
                background: None,
                layers: vec![Layer::new(key(picture), Fit::Stretch)],
            },
            ZoneScene {
                rect: [0.1, 0.75, 0.8, 0.2],
                background: Some(Color::rgb(200, 60, 160)),
                layers: Vec::new(),
            },
        ],
        overlay: None,
    }
}

#[test]
fn rotated_screens_match_their_goldens() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 160, 90);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let picture = pattern("portrait", 90, 112);
    renderer.upload(&gpu, &picture);
    for (name, rotation) in [
        ("rotation-90", Rotation::Deg90),
        ("rotation-180", Rotation::Deg180),
        ("rotation-270", Rotation::Deg270),
    ] {
        renderer.render(
            &gpu,
            target.view(),
            target.size(),
            &portrait_scene(&picture, rotation),
        );
        check_golden(name, &target.read_pixels(&gpu).unwrap());
    }
    // Turned a quarter clockwise, the logical top-left (red quadrant) is the framebuffer's top-right.
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &portrait_scene(&picture, Rotation::Deg90),
    );
    let frame = target.read_pixels(&gpu).unwrap();
    let top_right = frame.get_pixel(150, 10).0;
    assert!(top_right[0] > 200 && top_right[1] < 60, "{top_right:?}");
}

#[test]
fn a_text_items_background_fills_its_zone_behind_the_letters() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 200, 100);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let mut draw = |background: Option<Color>| {
        let text = TextSpec {
            bold: true,
            background,
            ..TextSpec::plain("Soldes", 30.0)
        };
        let text_key = text.key((200, 100));
        renderer
            .prepare_text(&gpu, text_key.clone(), &text, (200, 100))
            .unwrap();
        let mut scene = full(vec![Layer::new(text_key, Fit::Stretch)]);
        scene.zones[0].background = Some(Color::rgb(0, 0, 255));
        renderer.render(&gpu, target.view(), target.size(), &scene);
        target.read_pixels(&gpu).unwrap()
    };
    // A corner, far from the letters: the zone's blue without a background, the text's red with.
    assert_pixel(&draw(None), 4, 4, [0, 0, 255, 255]);
    let backed = draw(Some(Color::rgb(200, 0, 0)));
    assert_pixel(&backed, 4, 4, [200, 0, 0, 255]);
    assert_pixel(&backed, 195, 95, [200, 0, 0, 255]);
    // A half-transparent one lets the zone through, blended.
    let half = draw(Some(Color {
        r: 255,
        g: 0,
        b: 0,
        a: 128,
    }));
    let corner = half.get_pixel(4, 4).0;
    assert!(
        corner[0] > 150 && corner[2] > 150 && corner[1] < 30,
        "{corner:?}"
    );
}

#[test]
fn text_and_a_ticker_match_their_golden_and_the_ticker_moves_with_time() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 320, 120);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let text = TextSpec {
        bold: true,
        ..TextSpec::plain("Soldes d'hiver : -30 % sur tout", 22.0)
    };
    let ticker = TextSpec {
        colour: Color::rgb(255, 220, 0),
        align: TextAlign::Left,
        ticker: Some(TickerSpec {
            speed_px_per_s: 60.0,
            gap_px: 40.0,
        }),
        ..TextSpec::plain("Ouvert dimanche 10 h – 13 h • Click & collect", 18.0)
    };
    let text_key = text.key((320, 80));
    let ticker_key = ticker.key((320, 40));
    renderer
        .prepare_text(&gpu, text_key.clone(), &text, (320, 80))
        .unwrap();
    renderer
        .prepare_text(&gpu, ticker_key.clone(), &ticker, (320, 40))
        .unwrap();
    let scene = |ticker_elapsed: Duration| Scene {
        background: Color::BLACK,
        rotation: Rotation::Deg0,
        zones: vec![
            ZoneScene {
                rect: [0.0, 0.0, 1.0, 2.0 / 3.0],
                background: Some(Color::rgb(20, 60, 120)),
                layers: vec![Layer::new(text_key.clone(), Fit::Stretch)],
            },
            ZoneScene {
                rect: [0.0, 2.0 / 3.0, 1.0, 1.0 / 3.0],
                background: Some(Color::rgb(30, 30, 30)),
                layers: vec![
                    Layer::new(ticker_key.clone(), Fit::Stretch).with_elapsed(ticker_elapsed),
                ],
            },
        ],
        overlay: None,
    };
    let report = renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &scene(Duration::from_millis(500)),
    );
    assert!(report.animating, "a ticker keeps the screen animating");
    let first = target.read_pixels(&gpu).unwrap();
    check_golden("text-and-ticker", &first);
    // Text was drawn: the text zone holds white pixels, the ticker zone yellow ones.
    assert!(
        first
            .enumerate_pixels()
            .any(|(_, y, pixel)| y < 80 && pixel.0[..3] == [255, 255, 255])
    );
    assert!(
        first
            .enumerate_pixels()
            .any(|(_, y, pixel)| y > 80 && pixel.0[0] > 200 && pixel.0[2] < 60)
    );
    // One second later the ticker has moved by 60 pixels; the text zone has not changed.
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &scene(Duration::from_millis(1500)),
    );
    let later = target.read_pixels(&gpu).unwrap();
    let band = |frame: &image::RgbaImage, shift: u32| -> Vec<[u8; 4]> {
        (0..200)
            .map(|x| frame.get_pixel(x + shift, 100).0)
            .collect()
    };
    assert_eq!(
        band(&first, 60),
        band(&later, 0),
        "the ticker scrolled left by 60 px"
    );
    assert_eq!(first.get_pixel(160, 40), later.get_pixel(160, 40));
}

fn offer_card() -> OfferCard {
    OfferCard {
        title: "Café en grains bio, 1 kg".into(),
        price: Some(CardPrice {
            cents: 1299,
            old_cents: Some(1624),
            currency: "EUR".into(),
        }),
        locale: "fr-FR".into(),
        badge: None,
        validity: Some("Valable jusqu'au 31/12".into()),
        image: None,
        qr_url: Some("https://vitrine.example/q/3f9a7c21".into()),
        font: None,
        unit_price: None,
    }
}

#[test]
fn the_offer_card_matches_its_golden_and_its_qr_code_scans() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 640, 360);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let product = pattern("product", 200, 240);
    renderer.upload(&gpu, &product);
    let card = OfferCard {
        image: Some(key(&product)),
        ..offer_card()
    };
    let card_key = card.key((640, 360));
    renderer
        .prepare_offer_card(
            &gpu,
            card_key.clone(),
            &card,
            &OfferTemplate::builtin(),
            (640, 360),
        )
        .unwrap();
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &Scene::single(card_key, Fit::Contain),
    );
    let frame = target.read_pixels(&gpu).unwrap();
    check_golden("offer-card", &frame);

    let grey = image::DynamicImage::ImageRgba8(frame).into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        grey.width() as usize,
        grey.height() as usize,
        |x, y| grey.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the card");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    assert_eq!(content, "https://vitrine.example/q/3f9a7c21");
}

/// The pixels of the default template's price box (`price: { box: [0.52, 0.36, 0.45, 0.17] }`)
/// that are the price's red, `#c1121f`, give or take antialiasing.
fn red_in_price_box(frame: &image::RgbaImage) -> usize {
    let (width, height) = frame.dimensions();
    let x_range = (width as f32 * 0.52) as u32..(width as f32 * 0.97) as u32;
    let y_range = (height as f32 * 0.36) as u32..(height as f32 * 0.53) as u32;
    let mut red = 0;
    for y in y_range {
        for x in x_range.clone() {
            let [r, g, b, _] = frame.get_pixel(x, y).0;
            if r > 150 && g < 80 && b < 80 {
                red += 1;
            }
        }
    }
    red
}

/// `card` composed with the landscape template and drawn alone on a 640x360 frame.
fn draw_card(gpu: &Gpu, renderer: &mut Renderer, card: &OfferCard) -> image::RgbaImage {
    let target = Offscreen::new(gpu, 640, 360);
    let card_key = card.key((640, 360));
    renderer
        .prepare_offer_card(
            gpu,
            card_key.clone(),
            card,
            &OfferTemplate::builtin(),
            (640, 360),
        )
        .unwrap();
    renderer.render(
        gpu,
        target.view(),
        target.size(),
        &Scene::single(card_key, Fit::Contain),
    );
    target.read_pixels(gpu).unwrap()
}

#[test]
fn an_offer_card_without_a_price_draws_none() {
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let mut draw = |card: &OfferCard| draw_card(&gpu, &mut renderer, card);
    let priced = draw(&offer_card());
    assert!(
        red_in_price_box(&priced) > 200,
        "a priced card draws its price in red"
    );
    // A holdout control: a title and nothing that reads as a promise.
    let control = OfferCard {
        title: "Winter sale in store now".into(),
        price: None,
        validity: None,
        ..offer_card()
    };
    let frame = draw(&control);
    assert_eq!(red_in_price_box(&frame), 0, "no price, not even 0,00 €");
}

/// The pixels of the default template's unit price box (`unit_price: { box: [0.52, 0.65, 0.25,
/// 0.07] }`) darker than the card's white: its text.
fn ink_in_unit_price_box(frame: &image::RgbaImage) -> usize {
    let (width, height) = frame.dimensions();
    let x_range = (width as f32 * 0.52) as u32..(width as f32 * 0.77) as u32;
    let y_range = (height as f32 * 0.65) as u32..(height as f32 * 0.72) as u32;
    let mut ink = 0;
    for y in y_range {
        for x in x_range.clone() {
            let [r, g, b, _] = frame.get_pixel(x, y).0;
            if u32::from(r) + u32::from(g) + u32::from(b) < 3 * 160 {
                ink += 1;
            }
        }
    }
    ink
}

#[test]
fn an_offer_card_shows_the_unit_price_only_when_the_feed_gives_one() {
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let mut draw = |card: &OfferCard| draw_card(&gpu, &mut renderer, card);
    let without = draw(&offer_card());
    assert_eq!(ink_in_unit_price_box(&without), 0, "no unit price, no text");
    let with = draw(&OfferCard {
        unit_price: Some(vitrine_core::offer::UnitPrice {
            cents: 1299,
            per: "kg".into(),
        }),
        ..offer_card()
    });
    assert!(
        ink_in_unit_price_box(&with) > 50,
        "the unit price is written in its box"
    );
}

#[test]
fn an_offer_card_without_its_product_image_uploaded_is_an_error() {
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let card = OfferCard {
        image: Some(ContentKey::Generated("not uploaded".into())),
        ..offer_card()
    };
    let error = renderer
        .prepare_offer_card(
            &gpu,
            card.key((320, 180)),
            &card,
            &OfferTemplate::builtin(),
            (320, 180),
        )
        .unwrap_err();
    assert!(error.to_string().contains("not uploaded"), "{error}");
}

#[test]
fn alpha_blends_over_the_zone_background() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 32, 32);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let clear = solid("transparent", 32, 32, [255, 0, 0, 0]);
    let half = solid("half", 32, 32, [255, 255, 255, 128]);
    renderer.upload(&gpu, &clear);
    renderer.upload(&gpu, &half);
    let mut scene = full(vec![Layer::new(key(&clear), Fit::Stretch)]);
    scene.zones[0].background = Some(Color::rgb(0, 0, 255));
    renderer.render(&gpu, target.view(), target.size(), &scene);
    assert_pixel(&target.read_pixels(&gpu).unwrap(), 16, 16, [0, 0, 255, 255]);
    scene.zones[0].background = Some(Color::BLACK);
    scene.zones[0].layers = vec![Layer::new(key(&half), Fit::Stretch)];
    renderer.render(&gpu, target.view(), target.size(), &scene);
    // Half-transparent white over black, blended in linear light, is sRGB ~188.
    let pixel = target.read_pixels(&gpu).unwrap().get_pixel(16, 16).0;
    assert!(
        pixel[0].abs_diff(188) <= 2 && pixel[0] == pixel[2],
        "{pixel:?}"
    );
}

#[test]
fn animated_images_show_the_frame_for_their_elapsed_time() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 16, 16);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let mut animation = solid("animation", 4, 4, [255, 0, 0, 255]);
    animation.frames[0].delay = Duration::from_millis(100);
    animation.frames.push(vitrine_player::decode::Frame {
        rgba: [0, 0, 255, 255].repeat(16),
        delay: Duration::from_millis(200),
    });
    renderer.upload(&gpu, &animation);
    for (elapsed_ms, expected) in [
        (0, [255, 0, 0, 255]),
        (150, [0, 0, 255, 255]),
        (310, [255, 0, 0, 255]), // the loop starts again at 300 ms
    ] {
        let scene = full(vec![
            Layer::new(key(&animation), Fit::Stretch)
                .with_elapsed(Duration::from_millis(elapsed_ms)),
        ]);
        let report = renderer.render(&gpu, target.view(), target.size(), &scene);
        assert!(report.animating);
        assert_pixel(&target.read_pixels(&gpu).unwrap(), 8, 8, expected);
    }
}

#[test]
fn a_missing_texture_is_reported_as_a_gap_and_leaves_the_zone_background() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 16, 16);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let absent = ContentKey::Generated("absent".into());
    let report = renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &full(vec![Layer::new(absent.clone(), Fit::Cover)]),
    );
    assert_eq!(report.missing, vec![absent]);
    assert_eq!(report.gap_zones, 1);
    assert_pixel(&target.read_pixels(&gpu).unwrap(), 8, 8, [30, 30, 30, 255]);
}

#[test]
fn the_texture_budget_evicts_what_was_drawn_longest_ago_and_reports_it() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 16, 16);
    // Room for two 32x32 textures (4 KiB each), not three.
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT).with_budget(TextureBudget {
        max_bytes: 2 * 32 * 32 * 4,
    });
    let first = solid("first", 32, 32, [255, 0, 0, 255]);
    let second = solid("second", 32, 32, [0, 255, 0, 255]);
    let third = solid("third", 32, 32, [0, 0, 255, 255]);
    renderer.upload(&gpu, &first);
    renderer.upload(&gpu, &second);
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &Scene::single(key(&second), Fit::Cover),
    );
    renderer.render(
        &gpu,
        target.view(),
        target.size(),
        &Scene::single(key(&first), Fit::Cover),
    );
    // `second` was drawn longest ago; `first` is on screen and must stay.
    renderer.upload(&gpu, &third);
    assert_eq!(renderer.take_evicted(), vec![key(&second)]);
    assert!(renderer.has(&key(&first)) && renderer.has(&key(&third)));
    assert_eq!(renderer.used_bytes(), 2 * 32 * 32 * 4);
    assert!(renderer.take_evicted().is_empty(), "reported once");
}

#[test]
fn the_stats_overlay_draws_over_everything() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 320, 90);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let black = solid("black", 8, 8, [0, 0, 0, 255]);
    renderer.upload(&gpu, &black);
    let mut scene = Scene::single(key(&black), Fit::Stretch);
    scene.overlay = Some("frame p50 4.2 ms".into());
    renderer.render(&gpu, target.view(), target.size(), &scene);
    let frame = target.read_pixels(&gpu).unwrap();
    let white_in_corner = frame
        .enumerate_pixels()
        .filter(|(x, y, pixel)| *x < 160 && *y < 30 && pixel.0[0] > 200)
        .count();
    assert!(white_in_corner > 20, "overlay text in the top-left corner");
}

/// Draws a cover page as the player does: its text laid out first, then the scene.
fn draw_cover(
    gpu: &Gpu,
    renderer: &mut Renderer,
    target: &Offscreen,
    page: &vitrine_player::cover::CoverPage,
) -> image::RgbaImage {
    for want in &page.wanted {
        let vitrine_player::playback::Want::Text {
            key, spec, zone_px, ..
        } = want
        else {
            panic!("a cover page wants only text: {want:?}");
        };
        renderer
            .prepare_text(gpu, key.clone(), spec, *zone_px)
            .expect("text");
    }
    renderer.render(gpu, target.view(), target.size(), &page.scene);
    target.read_pixels(gpu).unwrap()
}

fn rgba(colour: Color) -> [u8; 4] {
    [colour.r, colour.g, colour.b, 255]
}

/// The emergency page cannot be mistaken for the pairing page: red bands top and bottom around
/// a black field, a white heading in the top band; the pairing page has no red at all.
#[test]
fn the_emergency_page_is_unmistakable_and_unlike_the_pairing_page() {
    use vitrine_player::cover::{
        ALERT_BACKGROUND, ALERT_RED, PAIRING_BACKGROUND, emergency_page, pairing_page,
    };
    let gpu = gpu();
    let (width, height) = (320, 180);
    let target = Offscreen::new(&gpu, width, height);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let emergency = draw_cover(
        &gpu,
        &mut renderer,
        &target,
        &emergency_page(
            "Please leave by the main exit",
            (width, height),
            Rotation::Deg0,
        ),
    );
    let pairing = draw_cover(
        &gpu,
        &mut renderer,
        &target,
        &pairing_page("K7M2QX", (width, height), Rotation::Deg0),
    );

    // The bands are red at their corners, the field between them black.
    assert_pixel(&emergency, 2, 2, rgba(ALERT_RED));
    assert_pixel(&emergency, width - 3, 2, rgba(ALERT_RED));
    assert_pixel(&emergency, 2, height - 3, rgba(ALERT_RED));
    assert_pixel(&emergency, 2, height / 2, rgba(ALERT_BACKGROUND));
    // The heading is drawn in the top band: white letters on the red.
    let band_bottom = (height as f32 * vitrine_player::cover::ALERT_BAND) as u32;
    let is_white = |pixel: &image::Rgba<u8>| pixel.0[..3].iter().all(|channel| *channel > 200);
    let white_in_band = (0..band_bottom)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .filter(|(x, y)| is_white(emergency.get_pixel(*x, *y)))
        .count();
    assert!(
        white_in_band > 50,
        "the heading shows: {white_in_band} white pixels"
    );
    let white_in_field = (band_bottom..height * 3 / 4)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .filter(|(x, y)| is_white(emergency.get_pixel(*x, *y)))
        .count();
    assert!(
        white_in_field > 50,
        "the message shows: {white_in_field} white pixels"
    );

    // The pairing page is calm: its own background where the bands would be, and no red.
    assert_pixel(&pairing, 2, 2, rgba(PAIRING_BACKGROUND));
    assert_pixel(&pairing, 2, height - 3, rgba(PAIRING_BACKGROUND));
    let is_red = |pixel: &image::Rgba<u8>| {
        let [r, g, b, _] = pixel.0;
        r > 150 && g < 80 && b < 80
    };
    assert_eq!(pairing.pixels().filter(|pixel| is_red(pixel)).count(), 0);
    let red_share =
        emergency.pixels().filter(|pixel| is_red(pixel)).count() as f64 / f64::from(width * height);
    assert!(red_share > 0.2, "{red_share}");
}

/// One line in each script the fonts cover (with right-to-left, mixed-direction and emoji lines),
/// each in a band of its own: every character in its own letters, at the size asked.
#[test]
fn every_script_matches_its_golden_with_no_missing_glyph() {
    let lines = [
        "Open until 19:00",
        "Открыто до 19:00 · Ανοιχτό έως 19:00",
        "مفتوح حتى 19:00",
        "פתוח עד 19:00",
        "Sale ★ מבצע 50% ★ تخفيض",
        "19:00 तक खुला · เปิดถึง 19:00",
        "营业时间 10:00–20:00",
        "營業時間 10:00–20:00",
        "영업시간 10:00–20:00",
        "Noël 🎄 Cadeaux 🎁",
    ];
    let gpu = gpu();
    let band = 36u32;
    let target = Offscreen::new(&gpu, 480, band * lines.len() as u32);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let mut zones = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let spec = TextSpec::plain(*line, 24.0);
        let key = spec.key((480, band));
        let report = renderer
            .prepare_text(&gpu, key.clone(), &spec, (480, band))
            .unwrap();
        assert!(report.missing.is_empty(), "{line}: {:?}", report.missing);
        assert_eq!(report.outcome, vitrine_text::Outcome::Whole, "{line}");
        let top = index as f32 / lines.len() as f32;
        zones.push(ZoneScene {
            rect: [0.0, top, 1.0, 1.0 / lines.len() as f32],
            background: Some(Color::rgb(30, 30, 30)),
            layers: vec![Layer::new(key, Fit::Stretch)],
        });
    }
    let scene = Scene {
        zones,
        ..full(Vec::new())
    };
    renderer.render(&gpu, target.view(), target.size(), &scene);
    let frame = target.read_pixels(&gpu).unwrap();
    // The tree is drawn in colour: a green pixel in the emoji line.
    let emoji_band = (band * 9)..(band * 10);
    let green = frame
        .enumerate_pixels()
        .filter(|(_, y, pixel)| emoji_band.contains(y) && pixel[1] > 120 && pixel[0] < 100)
        .count();
    assert!(green > 20, "the emoji line has {green} green pixels");
    check_golden("scripts", &frame);
}

/// `spec` laid out for the whole of `target` and drawn there alone, with how it came out.
fn draw_text(
    gpu: &Gpu,
    renderer: &mut Renderer,
    target: &Offscreen,
    spec: &TextSpec,
) -> (image::RgbaImage, vitrine_player::render::TextReport) {
    let key = spec.key(target.size());
    let report = renderer
        .prepare_text(gpu, key.clone(), spec, target.size())
        .unwrap();
    renderer.render(
        gpu,
        target.view(),
        target.size(),
        &full(vec![Layer::new(key, Fit::Stretch)]),
    );
    (target.read_pixels(gpu).unwrap(), report)
}

/// Han characters take the forms of the store's locale: the same text draws differently for a
/// Japanese and a Chinese store.
#[test]
fn han_characters_follow_the_store_locale() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 160, 60);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let mut draw = |locale: &str| {
        let spec = TextSpec {
            locale: locale.into(),
            ..TextSpec::plain("直 誤 角", 40.0)
        };
        draw_text(&gpu, &mut renderer, &target, &spec).0
    };
    let japanese = draw("ja-JP");
    let chinese = draw("zh-CN");
    let differing = japanese
        .pixels()
        .zip(chinese.pixels())
        .filter(|(a, b)| a[0].abs_diff(b[0]) > 60)
        .count();
    assert!(
        differing > 50,
        "only {differing} pixels differ between ja-JP and zh-CN"
    );
}

/// A brand font from the media cache sets the text; characters it lacks come from the chain; a
/// "font" that is really a PNG is reported and the default fonts draw the text.
#[test]
fn a_brand_font_sets_the_text_and_a_bad_one_is_reported() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 360, 80);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let media = tempfile::tempdir().unwrap();
    let store = |bytes: &[u8]| {
        let sha256 = Sha256Hex::of_bytes(bytes);
        std::fs::write(media.path().join(sha256.as_str()), bytes).unwrap();
        sha256
    };
    let serif = store(&std::fs::read("/usr/share/fonts/truetype/noto/NotoSerif-Bold.ttf").unwrap());
    let png = store(&std::fs::read(goldens_dir().join("offer-card.png")).unwrap());
    renderer.set_font_dir(media.path());
    let mut draw = |font: Option<Sha256Hex>| {
        let spec = TextSpec {
            font,
            ..TextSpec::plain("Soldes Été 営業", 40.0)
        };
        draw_text(&gpu, &mut renderer, &target, &spec)
    };
    let (default, _) = draw(None);
    let (branded, report) = draw(Some(serif));
    assert!(
        report.missing.is_empty() && report.font_problem.is_none(),
        "{report:?}"
    );
    check_golden("brand-font", &branded);
    let differing = default
        .pixels()
        .zip(branded.pixels())
        .filter(|(a, b)| a[0].abs_diff(b[0]) > 60)
        .count();
    assert!(
        differing > 200,
        "the brand font draws like the default ({differing} pixels differ)"
    );
    let (fallback, report) = draw(Some(png));
    let problem = report.font_problem.clone().expect("a PNG is no font");
    assert!(problem.contains("PNG"), "{problem}");
    assert!(report.alert().unwrap().contains("PNG"));
    let same = default.pixels().zip(fallback.pixels()).all(|(a, b)| a == b);
    assert!(
        same,
        "a bad brand font leaves the text in the default fonts"
    );
}

/// "Open until 19:00" at the default size in a low band: set smaller, whole, and said so; too
/// much text ends in an ellipsis inside its zone.
#[test]
fn text_that_does_not_fit_is_shrunk_or_ellipsised_inside_its_zone() {
    let gpu = gpu();
    let target = Offscreen::new(&gpu, 480, 135);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let spec = TextSpec {
        min_size_px: 135.0 * 0.04,
        ..TextSpec::plain("Open until 19:00", 135.0 * 0.5 * 2.0)
    };
    let (frame, report) = draw_text(&gpu, &mut renderer, &target, &spec);
    assert_eq!(report.outcome, vitrine_text::Outcome::Shrunk);
    assert!(
        report.alert().unwrap().contains("shrunk from 135 px"),
        "{report:?}"
    );
    check_golden("fitted-text", &frame);
    // Letters reach the right half (the "19:00"), and none touch the zone's edges.
    let lit = |x: u32, y: u32| frame.get_pixel(x, y)[0] > 128;
    assert!((300..470).any(|x| (0..135).any(|y| lit(x, y))));
    assert!((0..135).all(|y| !lit(0, y) && !lit(479, y)));

    let long = TextSpec {
        min_size_px: 16.0,
        ..TextSpec::plain("Fresh bread every morning from 7:30 ".repeat(30), 40.0)
    };
    let report = renderer
        .prepare_text(&gpu, long.key((480, 135)), &long, (480, 135))
        .unwrap();
    assert_eq!(report.outcome, vitrine_text::Outcome::Ellipsised);
    assert!(report.alert().unwrap().contains("ellipsis"));
}

/// Every text of the corpus (and of the sample playlists) is drawn with no missing-glyph box.
#[test]
fn no_text_of_the_corpus_draws_a_missing_glyph() {
    let corpus = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text-corpus.txt"),
    )
    .unwrap();
    let mut texts: Vec<String> = corpus
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let playlists = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../playlists");
    for entry in std::fs::read_dir(&playlists).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "yaml") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let resolver = |include: &str| {
            std::fs::read_to_string(playlists.join(include)).map_err(|error| error.to_string())
        };
        let parsed =
            vitrine_core::playlist::parse_playlist_with_includes(&name, &source, &resolver)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
        for item in parsed.value.items() {
            if let vitrine_core::playlist::Content::Text { text, .. } = &item.content {
                texts.push(text.clone());
            }
        }
    }
    assert!(texts.len() > 15, "{} texts", texts.len());
    let gpu = gpu();
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    for text in &texts {
        let spec = TextSpec::plain(text.as_str(), 32.0);
        let report = renderer
            .prepare_text(&gpu, spec.key((1280, 120)), &spec, (1280, 120))
            .unwrap();
        assert!(
            report.missing.is_empty(),
            "{text:?}: no glyph for {:?}",
            report.missing
        );
    }
}

/// A ticker far longer than the GPU's largest texture is drawn whole, in tiles: its last words
/// scroll into view like its first.
#[test]
fn a_ticker_longer_than_the_largest_texture_shows_its_end() {
    let gpu = gpu();
    let max_side = gpu.device.limits().max_texture_dimension_2d as f32;
    let target = Offscreen::new(&gpu, 320, 40);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    // Sparse dots, then a solid block at the very end.
    let dots = ". ".repeat(((max_side * 1.6) / 8.0) as usize);
    let text = format!("{dots}████████████");
    let strip = {
        let mut fonts = vitrine_text::Fonts::new("en-US");
        vitrine_text::one_line(&mut fonts, &text, None, false, 24.0).width
    };
    assert!(
        strip > max_side * 1.2,
        "the strip ({strip} px) must need tiles"
    );
    let ticker = TextSpec {
        ticker: Some(TickerSpec {
            speed_px_per_s: 1000.0,
            gap_px: 400.0,
        }),
        ..TextSpec::plain(text, 24.0)
    };
    let key = ticker.key((320, 40));
    renderer
        .prepare_text(&gpu, key.clone(), &ticker, (320, 40))
        .unwrap();
    // When the strip has moved its length less 100 px, the block fills the zone's left part.
    let elapsed = Duration::from_secs_f32((strip - 100.0) / 1000.0);
    let scene = full(vec![Layer {
        elapsed,
        ..Layer::new(key, Fit::Stretch)
    }]);
    renderer.render(&gpu, target.view(), target.size(), &scene);
    let frame = target.read_pixels(&gpu).unwrap();
    let lit = |range: std::ops::Range<u32>| {
        let total = range.len() as f64 * 40.0;
        let lit = range
            .flat_map(|x| (0..40).map(move |y| (x, y)))
            .filter(|&(x, y)| frame.get_pixel(x, y)[0] > 128)
            .count();
        lit as f64 / total
    };
    assert!(
        lit(10..80) > 0.3,
        "the block is not drawn: {:.2} lit",
        lit(10..80)
    );
    // Past the block comes the gap, then the dots from the start again.
    assert!(lit(120..220) < 0.02, "the gap is lit: {:.2}", lit(120..220));
}
