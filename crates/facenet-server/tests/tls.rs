//! HTTPS: TLS 1.3 only, with a certificate made for the test, on loopback.

mod common;

use std::sync::Arc;

use common::{open_store, pipeline, KEYS};
use facenet_core::batch::BatchConfig;
use facenet_server::{AppState, Limits, StaticKeys};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client_config(
    root: &rcgen::CertifiedKey<rcgen::KeyPair>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tls13_only() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    // A missing or wrong file is a clear error, not a panic.
    let missing = facenet_server::tls::server_config(&dir.path().join("none.pem"), &key_path);
    assert!(missing.unwrap_err().to_string().contains("none.pem"));
    let swapped = facenet_server::tls::server_config(&key_path, &key_path);
    assert!(swapped.is_err());

    let config = facenet_server::tls::server_config(&cert_path, &key_path).unwrap();
    let store = open_store(dir.path());
    let auth = Arc::new(StaticKeys::new(KEYS));
    let state = AppState::new(
        pipeline(),
        BatchConfig::default(),
        auth,
        store,
        Limits::default(),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(facenet_server::tls::serve_tls(
        listener,
        state,
        config,
        async {
            let _ = stopped.await;
        },
    ));

    let connector =
        tokio_rustls::TlsConnector::from(client_config(&cert, &[&rustls::version::TLS13]));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("x-content-type-options: nosniff"),
        "{response}"
    );

    // A client that only speaks TLS 1.2 gets no connection.
    let old = tokio_rustls::TlsConnector::from(client_config(&cert, &[&rustls::version::TLS12]));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(old.connect(name, tcp).await.is_err());

    // Plain HTTP on the TLS port gets nothing useful either.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200"));

    stop.send(()).unwrap();
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "no clean shutdown: {done:?}"
    );
}
