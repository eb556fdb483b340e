//! The renderer on a real GPU adapter: Mesa's lavapipe (`WGPU_BACKEND=vulkan`) or llvmpipe
//! (`WGPU_BACKEND=gl`) on machines without a GPU. `cargo xtask test` runs this file on both.
//! A missing adapter fails these tests; it never skips them.

use vitrine_core::Sha256Hex;
use vitrine_player::decode::DecodedImage;
use vitrine_player::render::{Gpu, OFFSCREEN_FORMAT, Offscreen, Renderer};

fn solid(name: &str, width: u32, height: u32, rgba: [u8; 4]) -> DecodedImage {
    DecodedImage {
        sha256: Sha256Hex::of_bytes(name.as_bytes()),
        width,
        height,
        rgba: rgba.repeat((width * height) as usize),
    }
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

#[test]
fn runs_on_the_backend_asked_for() {
    let gpu = Gpu::headless().expect("a GPU adapter (lavapipe or llvmpipe in CI)");
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
    let gpu = Gpu::headless().expect("a GPU adapter (lavapipe or llvmpipe in CI)");
    let target = Offscreen::new(&gpu, 160, 90);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let red = solid("red", 160, 90, [255, 0, 0, 255]);
    renderer.upload(&gpu, &red);
    renderer.render(&gpu, target.view(), target.size(), &red.sha256);
    let frame = target.read_pixels(&gpu).unwrap();
    for (x, y) in [(0, 0), (159, 0), (80, 45), (0, 89), (159, 89)] {
        assert_pixel(&frame, x, y, [255, 0, 0, 255]);
    }
}

#[test]
fn contain_letterboxes_an_image_of_another_shape() {
    let gpu = Gpu::headless().expect("a GPU adapter (lavapipe or llvmpipe in CI)");
    let target = Offscreen::new(&gpu, 200, 100);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let blue = solid("blue", 50, 100, [0, 0, 255, 255]);
    renderer.upload(&gpu, &blue);
    renderer.render(&gpu, target.view(), target.size(), &blue.sha256);
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
    let gpu = Gpu::headless().expect("a GPU adapter (lavapipe or llvmpipe in CI)");
    let target = Offscreen::new(&gpu, 64, 64);
    let mut renderer = Renderer::new(&gpu, OFFSCREEN_FORMAT);
    let red = solid("red", 64, 64, [255, 0, 0, 255]);
    let green = solid("green", 64, 64, [0, 255, 0, 255]);
    renderer.upload(&gpu, &red);
    renderer.upload(&gpu, &green);
    renderer.render(&gpu, target.view(), target.size(), &red.sha256);
    assert_pixel(&target.read_pixels(&gpu).unwrap(), 32, 32, [255, 0, 0, 255]);
    renderer.render(&gpu, target.view(), target.size(), &green.sha256);
    let frame = target.read_pixels(&gpu).unwrap();
    assert_pixel(&frame, 0, 0, [0, 255, 0, 255]);
    assert_pixel(&frame, 63, 63, [0, 255, 0, 255]);
}
