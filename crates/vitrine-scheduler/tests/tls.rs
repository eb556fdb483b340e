//! HTTPS straight from the binary: a certificate made at test time with rcgen, the real
//! `vitrine-scheduler --tls-cert --tls-key` on loopback, and a reqwest client that trusts only that
//! certificate. A signed manifest makes the round trip; a client that does not trust the
//! certificate, and a plain-HTTP client, get nothing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const ADMIN: &str = "tls-test-admin-token";

struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_manifest_makes_the_round_trip_over_tls() {
    let folder = tempfile::tempdir().expect("temp dir");
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let cert_path = folder.path().join("cert.pem");
    let key_path = folder.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("write key");

    let mut child = Command::new(env!("CARGO_BIN_EXE_vitrine-scheduler"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            ADMIN,
            "--data-dir",
        ])
        .arg(folder.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("scheduler starts");
    let stdout = child.stdout.take().expect("stdout");
    let _scheduler = Scheduler(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let url = line
        .trim_end()
        .strip_prefix("vitrine-scheduler listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let trusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.pem().as_bytes()).expect("PEM certificate"),
        )
        .build()
        .expect("client");
    let health = trusting
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("TLS handshake with a trusted certificate");
    assert_eq!(health.status(), 200);

    // Push a text-only playlist, register a screen that plays it and fetch its signed manifest,
    // all over TLS.
    let pushed = trusting
        .post(format!("{url}/v1/playlists"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({
            "file_name": "tls.yaml",
            "source": "version: 1\nname: tls\nitems:\n  - text: { text: Hello, duration: 5s }\n",
        }))
        .send()
        .await
        .expect("push");
    assert_eq!(
        pushed.status(),
        201,
        "{}",
        pushed.text().await.unwrap_or_default()
    );
    let created: serde_json::Value = trusting
        .post(format!("{url}/v1/screens"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"name": "lobby", "playlist": "tls"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("JSON");
    let token = created["token"].as_str().expect("token").to_owned();
    let manifest = trusting
        .get(format!("{url}/v1/manifest"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("manifest");
    assert_eq!(manifest.status(), 200);
    assert!(manifest.headers().contains_key("x-vitrine-signature"));
    let body = manifest.text().await.expect("body");
    assert!(body.contains("Hello"), "{body}");

    // Without the certificate among its roots, a client refuses the server.
    let stranger = reqwest::Client::new();
    let refused = stranger.get(format!("{url}/healthz")).send().await;
    assert!(
        refused.is_err(),
        "an untrusted certificate must fail the handshake"
    );

    // Plain HTTP on the TLS port gets no API answer.
    let plain = reqwest::Client::new()
        .get(url.replace("https://", "http://") + "/healthz")
        .send()
        .await;
    assert!(
        plain
            .map(|response| response.status() != 200)
            .unwrap_or(true),
        "plain HTTP is not served on the TLS port"
    );
}
