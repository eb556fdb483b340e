//! The web console in a real Chromium (Debian's `chromium`, driven over WebDriver by its
//! `chromedriver`), against the real scheduler and a real headless player on loopback.
//!
//! Every page the test visits is saved as a PNG under `target/console-screens/`, for a reviewer
//! to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use vitrine_e2e::{PlayerOptions, Process, Scheduler, Source, binaries_dir, start_player};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long anything the browser waits for may take on two busy cores.
const PATIENCE: Duration = Duration::from_secs(60);

/// Chromium under chromedriver, each on loopback, with a profile of its own.
struct Browser {
    client: Client,
    _driver: Process,
    _profile: tempfile::TempDir,
    screens: PathBuf,
}

impl Browser {
    async fn start() -> anyhow::Result<Self> {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            if !Path::new(path).is_file() {
                bail!("{path} is missing: install Debian's `{package}` (`cargo xtask setup`)");
            }
        }
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let driver = Process::spawn(
            "chromedriver",
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        let profile = tempfile::tempdir()?;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // CI runs as root.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    // This machine's network is closed: no background connections.
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    "--no-first-run",
                    "--window-size=1366,768",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => bail!("chromedriver did not start a Chromium session: {error}"),
            }
        };
        let screens = binaries_dir()
            .parent()
            .context("target/")?
            .join("console-screens");
        std::fs::create_dir_all(&screens)?;
        Ok(Self {
            client,
            _driver: driver,
            _profile: profile,
            screens,
        })
    }

    /// Saves what the browser shows as `target/console-screens/{name}.png`.
    async fn save(&self, name: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::write(self.screens.join(format!("{name}.png")), png)?;
        Ok(())
    }

    /// The text of the first element `css` finds, once one is there.
    async fn text_of(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => Ok(element.text().await?),
            Err(error) => bail!("no `{css}` on {}: {error}", self.url().await),
        }
    }

    async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|url| url.to_string())
            .unwrap_or_default()
    }

    async fn page_text(&self) -> anyhow::Result<String> {
        Ok(self.client.find(Locator::Css("body")).await?.text().await?)
    }

    /// Waits until `script` (a JavaScript expression) is true on the page.
    async fn until(&self, what: &str, script: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self
                .client
                .execute(&format!("return Boolean({script});"), Vec::new())
                .await?;
            if value == json!(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{what} did not happen within {PATIENCE:?} on {}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn sign_in(&self, base: &str, token: &str) -> anyhow::Result<()> {
        self.client.goto(&format!("{base}/console/fleet")).await?;
        let field = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#token"))
            .await?;
        field.send_keys(token).await?;
        self.client
            .find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#fleet"))
            .await
            .context("signed in, the fleet page shows")?;
        Ok(())
    }

    /// Puts `text` in the playlist editor and presses the button named `action`.
    async fn submit_yaml(&self, text: &str, action: &str) -> anyhow::Result<()> {
        self.client
            .execute(
                "document.getElementById('source').value = arguments[0];",
                vec![json!(text)],
            )
            .await?;
        self.client
            .find(Locator::Css(&format!("button[value={action}]")))
            .await?
            .click()
            .await?;
        Ok(())
    }
}

const STORES: &str = "code,name,region,tags,timezone,locale,currency
paris-11,Paris 11,north,,Europe/Paris,fr-FR,EUR
lyon-2,Lyon 2,south,,Europe/Paris,fr-FR,EUR
";

fn lobby(text: &str) -> String {
    format!(
        "version: 1\nname: lobby\nitems:\n  - image: {{ id: door-art, file: art.png, duration: 1h }}\n  \
         - text: {{ id: note, text: {text}, duration: 1s }}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_in_chromium_signs_in_shows_the_fleet_live_and_publishes_with_diagnostics()
-> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let hq = scratch.path().join("hq");
    let scheduler = Scheduler::start(&hq)?;
    let content = scratch.path().join("content");
    std::fs::create_dir_all(&content)?;
    // A picture with a pattern the screenshot must reproduce: four coloured quarters.
    let art = image::RgbImage::from_fn(320, 180, |x, y| match (x < 160, y < 90) {
        (true, true) => image::Rgb([220, 30, 30]),
        (false, true) => image::Rgb([30, 160, 60]),
        (true, false) => image::Rgb([30, 60, 200]),
        (false, false) => image::Rgb([240, 220, 40]),
    });
    art.save(content.join("art.png"))?;
    let playlist = content.join("lobby.yaml");
    std::fs::write(&playlist, lobby("Welcome"))?;
    std::fs::write(content.join("stores.csv"), STORES)?;
    scheduler.cli(&[
        "stores",
        "import",
        &content.join("stores.csv").display().to_string(),
    ])?;
    scheduler.cli(&["push", &playlist.display().to_string()])?;
    let device = scheduler
        .cli(&[
            "screens",
            "add",
            "door",
            "--playlist",
            "lobby",
            "--store",
            "paris-11",
        ])?
        .trim()
        .to_owned();
    scheduler.cli(&[
        "screens",
        "add",
        "till",
        "--playlist",
        "lobby",
        "--store",
        "lyon-2",
    ])?;
    let lyon_staff = scheduler
        .cli(&["staff", "add", "bruno", "--store", "lyon-2"])?
        .trim()
        .to_owned();
    let frames = scratch.path().join("frames");
    let _player = start_player(
        Source::Scheduler {
            url: &scheduler.url,
            token: &device,
        },
        &scratch.path().join("player"),
        &frames,
        scratch.path(),
        &PlayerOptions {
            size: (640, 360),
            fps: 10,
            frame_interval: "500ms",
            poll_interval: "200ms",
        },
    )?;

    let browser = Browser::start().await?;
    let base = &scheduler.url;
    // Signed out, any page leads to sign-in, and back to it afterwards.
    browser
        .client
        .goto(&format!("{base}/console/screens/door"))
        .await?;
    browser.text_of("#token-help").await?;
    browser.save("sign-in").await?;
    browser
        .client
        .find(Locator::Css("#token"))
        .await?
        .send_keys(&scheduler.admin_token)
        .await?;
    browser
        .client
        .find(Locator::Css("form button[type=submit]"))
        .await?
        .click()
        .await?;
    browser.text_of("#status-heading").await?;
    assert!(browser.url().await.ends_with("/console/screens/door"));
    // The session cookie is out of the page's reach.
    let cookies = browser
        .client
        .execute("return document.cookie;", Vec::new())
        .await?;
    assert!(
        !cookies
            .as_str()
            .unwrap_or_default()
            .contains("vitrine_session"),
        "{cookies}"
    );

    // The fleet shows the player online with the item it shows.
    browser
        .client
        .goto(&format!("{base}/console/fleet"))
        .await?;
    browser
        .until(
            "the player online, showing door-art",
            "document.querySelector('tr[data-screen=door] .state.online') && \
             document.querySelector('tr[data-screen=door] .showing').textContent.includes('door-art')",
        )
        .await?;
    browser.save("fleet").await?;

    // A forged CSRF token is refused, from this very browser with its cookie.
    let status = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/console/sign-out', {method: 'POST', credentials: 'same-origin',
                 headers: {'content-type': 'application/x-www-form-urlencoded'},
                 body: 'csrf=forged'}).then(r => done(r.status));",
            Vec::new(),
        )
        .await?;
    assert_eq!(status, json!(403));

    // A typo: the diagnostic at its line, nothing published.
    browser
        .client
        .goto(&format!("{base}/console/playlists/lobby"))
        .await?;
    let typo = lobby("Welcome").replace("items:", "itmes:");
    browser.submit_yaml(&typo, "publish").await?;
    let problem = browser.text_of("li#L3.has-problem .diagnostic").await?;
    assert!(problem.contains("lobby.yaml:3:"), "{problem}");
    browser.save("playlist-diagnostic").await?;
    assert_eq!(browser.text_of("#current-version").await?, "1");

    // The fleet in one window; the fix published from another; the row switches without a reload.
    browser
        .client
        .goto(&format!("{base}/console/fleet"))
        .await?;
    browser
        .client
        .execute("window.notReloaded = true;", Vec::new())
        .await?;
    let fleet_window = browser.client.window().await?;
    let editor = browser.client.new_window(true).await?;
    browser.client.switch_to_window(editor.handle).await?;
    browser
        .client
        .goto(&format!("{base}/console/playlists/lobby"))
        .await?;
    browser
        .submit_yaml(&lobby("Spring sale"), "publish")
        .await?;
    browser
        .until(
            "version 2 published",
            "document.getElementById('current-version') && \
             document.getElementById('current-version').textContent === '2'",
        )
        .await?;
    browser.save("playlist-published").await?;
    browser
        .client
        .switch_to_window(fleet_window.clone())
        .await?;
    browser
        .until(
            "the fleet row at v2, without a reload",
            "window.notReloaded === true && \
             document.querySelector('tr[data-screen=door] .playlist-version') && \
             document.querySelector('tr[data-screen=door] .playlist-version').textContent === '2'",
        )
        .await?;
    browser.save("fleet-live-v2").await?;

    // Roll back to v1: version 3, with v1's text, on screen.
    browser
        .client
        .switch_to_window(editor_handle_of(&browser, &fleet_window).await?)
        .await?;
    browser
        .client
        .find(Locator::Css("form[action$='/rollback'] button"))
        .await?
        .click()
        .await?;
    browser
        .until(
            "version 3 after the rollback",
            "document.getElementById('current-version').textContent === '3'",
        )
        .await?;
    assert!(browser.page_text().await?.contains("Welcome"));
    browser
        .client
        .goto(&format!("{base}/console/playlists/lobby/diff?from=2&to=3"))
        .await?;
    assert!(browser.page_text().await?.contains("Spring sale"));
    browser.save("playlist-diff").await?;
    browser.client.switch_to_window(fleet_window).await?;
    browser
        .until(
            "the fleet row at v3",
            "document.querySelector('tr[data-screen=door] .playlist-version').textContent === '3'",
        )
        .await?;

    // The screen page: its timeline and why.
    browser
        .client
        .goto(&format!("{base}/console/screens/door"))
        .await?;
    browser.text_of("#timeline-heading").await?;
    browser
        .client
        .find(Locator::Css("#why-heading ~ form button"))
        .await?
        .click()
        .await?;
    let why = browser.text_of("#why").await?;
    assert!(why.contains("door-art") || why.contains("note"), "{why}");
    browser.save("screen").await?;

    // A screenshot on demand: the JPEG the page shows is the player's own frame.
    browser
        .client
        .find(Locator::Css("button[data-command=screenshot]"))
        .await?
        .click()
        .await?;
    browser
        .until(
            "the screenshot shown",
            "document.getElementById('screenshot-image') && \
             document.getElementById('screenshot-image').complete && \
             document.getElementById('screenshot-image').naturalWidth === 640",
        )
        .await?;
    browser
        .client
        .execute(
            "document.getElementById('screenshot').scrollIntoView();",
            Vec::new(),
        )
        .await?;
    browser.save("screen-screenshot").await?;
    let jpeg = reqwest::Client::new()
        .get(format!("{base}/v1/screens/door/screenshot"))
        .bearer_auth(&scheduler.admin_token)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let shot = image::load_from_memory(&jpeg)?.to_rgb8();
    let (_, newest_frame) = vitrine_e2e::frames(&frames)
        .into_iter()
        .next_back()
        .context("the player wrote frames")?;
    let frame = image::open(&newest_frame)?.to_rgb8();
    assert_eq!(shot.dimensions(), frame.dimensions());
    let difference: u64 = shot
        .pixels()
        .zip(frame.pixels())
        .map(|(a, b)| {
            (0..3)
                .map(|channel| u64::from(a[channel].abs_diff(b[channel])))
                .sum::<u64>()
        })
        .sum();
    let mean = difference as f64 / (f64::from(shot.width() * shot.height()) * 3.0);
    assert!(
        mean < 6.0,
        "the screenshot differs from the player's frame by {mean:.1} per channel on average"
    );
    // And it is the picture: its top-left quarter red, its bottom-right yellow.
    let red = shot.get_pixel(80, 45);
    let yellow = shot.get_pixel(560, 315);
    assert!(red[0] > 180 && red[1] < 80 && red[2] < 80, "{red:?}");
    assert!(
        yellow[0] > 200 && yellow[1] > 180 && yellow[2] < 100,
        "{yellow:?}"
    );

    // The report page: the player's plays reach HQ's report, grouped as asked, with the
    // impressions formula and the chain's state.
    let deadline = Instant::now() + PATIENCE;
    loop {
        browser
            .client
            .goto(&format!("{base}/console/reports?group_by=screen"))
            .await?;
        let found = browser
            .client
            .execute(
                "return Boolean(document.querySelector(\"tr[data-key='door']\"));",
                Vec::new(),
            )
            .await?;
        if found == json!(true) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the door screen's plays did not reach the report page within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let report = browser.text_of("#plays-report").await?;
    assert!(
        report.contains("gross impressions = delivered plays"),
        "{report}"
    );
    browser
        .client
        .find(Locator::Css("input[name=group_by][value=day]"))
        .await?
        .click()
        .await?;
    browser
        .client
        .find(Locator::Css("#report-form button[type=submit]"))
        .await?
        .click()
        .await?;
    browser
        .until(
            "the report grouped by screen and day",
            "location.search.includes('group_by=day') && \
             document.querySelectorAll('#plays-report thead th').length === 10",
        )
        .await?;
    browser
        .client
        .execute(
            "document.getElementById('plays-report').scrollIntoView();",
            Vec::new(),
        )
        .await?;
    browser.save("reports").await?;
    // Tamper evidence, a page of its own from the report's days.
    browser
        .client
        .find(Locator::Css("#chain-link"))
        .await?
        .click()
        .await?;
    let chain = browser.text_of("#chain").await?;
    assert!(
        chain.contains("screen-days intact") && chain.contains("door"),
        "{chain}"
    );
    browser.save("reports-chain").await?;

    // On a phone-sized window nothing runs off the side of the page.
    browser.client.set_window_size(390, 844).await?;
    browser
        .client
        .goto(&format!("{base}/console/fleet"))
        .await?;
    browser.text_of("#fleet").await?;
    browser
        .until(
            "the fleet fitting a phone's width",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await?;
    browser.save("fleet-phone").await?;
    browser.client.set_window_size(1366, 768).await?;

    // Lyon's staff: not Paris's screen, neither in the fleet nor by its address.
    browser
        .client
        .find(Locator::Css("form[action='/console/sign-out'] button"))
        .await?
        .click()
        .await?;
    browser.text_of("#token").await?;
    browser.sign_in(base, &lyon_staff).await?;
    let fleet = browser.text_of("#fleet").await?;
    assert!(fleet.contains("till") && !fleet.contains("door"), "{fleet}");
    browser
        .client
        .goto(&format!("{base}/console/screens/door"))
        .await?;
    let refused = browser.text_of("main").await?;
    assert!(refused.contains("Not allowed"), "{refused}");
    browser.save("staff-refused").await?;
    browser.client.close().await?;
    Ok(())
}

/// The handle of the window that is not `fleet`.
async fn editor_handle_of(
    browser: &Browser,
    fleet: &fantoccini::wd::WindowHandle,
) -> anyhow::Result<fantoccini::wd::WindowHandle> {
    browser
        .client
        .windows()
        .await?
        .into_iter()
        .find(|handle| handle != fleet)
        .context("the editor's window")
}
