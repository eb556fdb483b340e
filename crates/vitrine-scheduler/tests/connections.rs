//! Connection limits of the real server on loopback (`run_with_limits`), with timeouts shortened
//! so a test waits for the server to act rather than for minutes: a client that sends its header
//! slowly (slowloris), keeps an idle connection, or stalls in the middle of a body is cut off, over
//! plain HTTP and over TLS.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vitrine_scheduler::serve::ConnectionLimits;

mod common;

use common::{ADMIN, Harness};

/// Short enough that the tests finish quickly.
const LIMITS: ConnectionLimits = ConnectionLimits {
    header_read_timeout: Duration::from_millis(300),
    body_idle_timeout: Duration::from_millis(300),
};

/// Far beyond the limits: a server that never closes fails the test here, not by hanging.
const GIVE_UP: Duration = Duration::from_secs(30);

/// Starts the scheduler on loopback with [`LIMITS`]; the harness keeps its data folder alive.
async fn start() -> (Harness, std::net::SocketAddr) {
    let harness = Harness::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let state = harness.state.clone();
    tokio::spawn(async move {
        vitrine_scheduler::run_with_limits(listener, state, LIMITS, std::future::pending()).await
    });
    (harness, address)
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(GIVE_UP, stream.read(&mut buffer))
            .await
            .expect("the server closes the connection");
        match read {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

#[tokio::test]
async fn a_header_sent_too_slowly_gets_the_connection_closed() {
    let (_harness, address) = start().await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: vitrine\r\nX-Slow: ")
        .await
        .expect("write");
    // The rest of the header never comes; the server must hang up by itself.
    let received = read_until_closed(&mut stream).await;
    assert!(
        !received.contains("200 OK"),
        "no request was served: {received}"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_that_stays_idle_is_closed() {
    let (_harness, address) = start().await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: vitrine\r\n\r\n")
        .await
        .expect("write");
    // The first request is answered and the connection kept; then nothing more is sent.
    let received = read_until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 200 OK"), "{received}");
    assert!(received.ends_with("ok"), "{received}");
}

#[tokio::test]
async fn a_body_that_stalls_is_cut_off() {
    let (_harness, address) = start().await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let digest = vitrine_core::Sha256Hex::of_bytes(&[0u8; 1000]);
    let head = format!(
        "PUT /v1/media/{digest} HTTP/1.1\r\nHost: vitrine\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(&[0u8; 10]).await.expect("write");
    // 990 bytes never follow.
    let received = read_until_closed(&mut stream).await;
    assert!(
        received.starts_with("HTTP/1.1 400 Bad Request"),
        "{received}"
    );
    assert!(received.contains("cut off"), "{received}");
}

#[tokio::test]
async fn over_tls_a_header_sent_too_slowly_gets_the_connection_closed() {
    let harness = Harness::new();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_path = harness.data_dir.path().join("cert.pem");
    let key_path = harness.data_dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("write key");
    let config = vitrine_scheduler::tls::load(&cert_path, &key_path)
        .await
        .expect("TLS config");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let address = listener.local_addr().expect("address");
    let state = harness.state.clone();
    tokio::spawn(async move {
        vitrine_scheduler::tls::run_with_limits(
            listener,
            state,
            config,
            LIMITS,
            std::future::pending(),
        )
        .await
    });

    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let client = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = TcpStream::connect(address).await.expect("connect");
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    let mut received = Vec::new();
    let closed = tokio::time::timeout(GIVE_UP, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection");
    // A close without TLS's close_notify reads as an error; either way the connection is over.
    let _ = closed;
    let received = String::from_utf8_lossy(&received);
    assert!(
        !received.contains("200 OK"),
        "no request was served: {received}"
    );
}
