//! The media host over real HTTPS: a hyper client that trusts only the CA
//! PEM the host wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::HOST;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::MediaServer;

/// Sends one request; answers the status and the body.
async fn request(
    server: &MediaServer,
    name: &str,
    method: Method,
    uri: &str,
    body: &[u8],
) -> (u16, Bytes) {
    let pem = std::fs::read(server.ca_pem_path()).unwrap();
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = TcpStream::connect(server.host()).await.unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(HOST, server.host())
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

fn upload_uri(kind: &str, body: &[u8], auth: &str) -> String {
    let token = URL_SAFE_NO_PAD.encode(Sha256::digest(body));
    let auth: String = auth
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => char::from(b).into(),
            b => format!("%{b:02X}"),
        })
        .collect();
    format!("/mms/{kind}/{token}?auth={auth}&token={token}")
}

fn auth(server: &MediaServer) -> String {
    let conn = server.media_conn().unwrap();
    conn.attr_str("auth").unwrap().to_owned()
}

#[tokio::test]
async fn media_conn_names_the_host() {
    let server = MediaServer::start().await.unwrap();
    let conn = server.media_conn().unwrap();
    for attr in ["ttl", "auth_ttl", "max_buckets"] {
        let v = conn.attr_str(attr).unwrap();
        assert!(v.parse::<u32>().is_ok(), "{attr}={v}");
    }
    let host = conn.child("host").unwrap();
    assert_eq!(host.attr_str("hostname"), Some(server.host()));
    assert!(server.host().starts_with("127.0.0.1:"));
    let pem = std::fs::read_to_string(server.ca_pem_path()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
}

#[tokio::test]
async fn an_upload_comes_back_by_its_direct_path() {
    let server = MediaServer::start().await.unwrap();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let uri = upload_uri("document", &body, &auth(&server));
    let (status, answer) = request(&server, "127.0.0.1", Method::POST, &uri, &body).await;
    assert_eq!(status, 200, "{answer:?}");
    let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let direct_path = json["direct_path"].as_str().unwrap();
    assert!(direct_path.starts_with("/v/t62.7119-24/"), "{json}");
    assert_eq!(
        json["url"].as_str().unwrap(),
        format!("https://{}{direct_path}", server.host())
    );

    // By IP and by name, with and without the query.
    let (status, got) = request(&server, "127.0.0.1", Method::GET, direct_path, &[]).await;
    assert_eq!((status, got.as_ref()), (200, body.as_slice()));
    let bare = direct_path.split('?').next().unwrap();
    let (status, got) = request(&server, "localhost", Method::GET, bare, &[]).await;
    assert_eq!((status, got.len()), (200, body.len()));
}

#[tokio::test]
async fn bad_uploads_and_unknown_paths_are_refused() {
    let server = MediaServer::start().await.unwrap();
    let good = auth(&server);
    let body = b"some encrypted bytes";
    let post = |uri: String| {
        let server = &server;
        async move {
            request(server, "127.0.0.1", Method::POST, &uri, body)
                .await
                .0
        }
    };

    assert_eq!(post(upload_uri("image", body, "wrong")).await, 401);
    let no_auth = upload_uri("image", body, "x").replace("auth=x&", "");
    assert_eq!(post(no_auth).await, 401);
    let mismatch = upload_uri("image", b"other bytes", &good);
    assert_eq!(post(mismatch).await, 400);
    assert_eq!(
        post(format!("/mms/image/AAAA?auth={}", "x")).await,
        401,
        "auth is checked first"
    );
    let enc = upload_uri("image", body, &good);
    assert_eq!(post(enc.replace("/image/", "/pdf/")).await, 404);
    assert_eq!(post(enc.replace("/mms/image/", "/mms/image/x/")).await, 404);
    assert_eq!(post("/elsewhere".to_owned()).await, 404);

    let (status, _) = request(
        &server,
        "localhost",
        Method::GET,
        "/v/t62.7119-24/1_2_3_n.enc",
        &[],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = request(&server, "localhost", Method::PUT, &enc, body).await;
    assert_eq!(status, 405);

    // Not TLS at all: the connection is dropped, the host keeps serving.
    let mut tcp = TcpStream::connect(server.host()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    drop(tcp);
    assert_eq!(post(enc).await, 200);
}
