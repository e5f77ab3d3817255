use super::http::parse_upload_answer;
use super::*;

fn answer() -> Node {
    Node::new("iq").attr("type", "result").children(vec![
        Node::new("media_conn")
            .attr("auth", "a+b/c==")
            .attr("ttl", "300")
            .attr("auth_ttl", "21600")
            .attr("max_buckets", "12")
            .children(vec![
                Node::new("host").attr("hostname", "mmg.whatsapp.net"),
                Node::new("host").attr("hostname", "127.0.0.1:4433"),
                Node::new("host").attr("hostname", "evil/path"),
                Node::new("host"),
            ]),
    ])
}

#[test]
fn request_shape() {
    let iq = MediaConn::request();
    assert_eq!(iq.tag, "iq");
    assert_eq!(iq.attr_str("xmlns"), Some("w:m"));
    assert_eq!(iq.attr_str("type"), Some("set"));
    assert_eq!(iq.attr_jid("to"), Some(&wa_core::jid::Jid::server_jid()));
    assert!(iq.child("media_conn").is_some());
}

#[tokio::test(start_paused = true)]
async fn parse_and_expiry() {
    let now = Instant::now();
    let mc = MediaConn::parse(&answer(), now).unwrap();
    assert_eq!(mc.hosts(), ["mmg.whatsapp.net", "127.0.0.1:4433"]);
    assert_eq!(mc.ttl(), Duration::from_secs(300));
    assert_eq!(mc.auth_ttl(), Some(Duration::from_secs(21600)));
    assert!(
        !format!("{mc:?}").contains("a+b"),
        "auth stays out of Debug"
    );
    assert!(!mc.expired(now));
    tokio::time::advance(Duration::from_secs(299)).await;
    assert!(!mc.expired(Instant::now()));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(mc.expired(Instant::now()));

    // The bare <media_conn> child parses the same.
    let child = answer().child("media_conn").unwrap().clone();
    assert_eq!(MediaConn::parse(&child, now).unwrap(), mc);
}

#[test]
fn parse_refuses_what_it_cannot_use() {
    let now = Instant::now();
    let without = |attr: &str| {
        let mut a = Node::new("media_conn").children(vec![Node::new("host").attr("hostname", "h")]);
        for (k, v) in [("auth", "x"), ("ttl", "60")] {
            if k != attr {
                a = a.attr(k, v);
            }
        }
        a
    };
    for (node, why) in [
        (Node::new("iq"), "no <media_conn>"),
        (without("auth"), "no auth"),
        (without("ttl"), "no ttl"),
        (
            Node::new("media_conn").attr("auth", "x").attr("ttl", "1"),
            "no host",
        ),
    ] {
        match MediaConn::parse(&node, now) {
            Err(MediaError::BadMediaConn(got)) => assert_eq!(got, why),
            other => panic!("{why}: {other:?}"),
        }
    }
}

#[test]
fn urls() {
    let mc = MediaConn::parse(&answer(), Instant::now()).unwrap();
    let hash = [0xfb; 32];
    let url = mc.upload_url("127.0.0.1:4433", MediaKind::Sticker, &hash);
    let token = "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s";
    assert_eq!(
        url,
        format!("https://127.0.0.1:4433/mms/image/{token}?auth=a%2Bb%2Fc%3D%3D&token={token}")
    );
    assert_eq!(
        download_url(
            "h",
            "/v/t62.7118-24/1_n.enc?ccb=11-4",
            MediaKind::Image,
            Some(&hash)
        )
        .unwrap(),
        format!("https://h/v/t62.7118-24/1_n.enc?ccb=11-4&hash={token}&mms-type=image&__wa-mms=")
    );
    assert_eq!(
        download_url("h", "/x", MediaKind::History, None).unwrap(),
        "https://h/x?hash=&mms-type=md-msg-hist&__wa-mms="
    );
    assert!(matches!(
        download_url("h", "x", MediaKind::Image, None),
        Err(MediaError::BadDirectPath)
    ));
}

#[test]
fn upload_answers() {
    let ok = parse_upload_answer(br#"{"url":"https://h/p?x","direct_path":"/p?x"}"#).unwrap();
    assert_eq!(ok.direct_path, "/p?x");
    assert_eq!(ok.url.as_deref(), Some("https://h/p?x"));
    let no_url = parse_upload_answer(br#"{"direct_path":"/p"}"#).unwrap();
    assert_eq!(no_url.url, None);
    for bad in [
        &b"not json"[..],
        br#"{"url":"u"}"#,
        br#"{"direct_path":"p"}"#,
        b"[]",
    ] {
        assert!(
            matches!(parse_upload_answer(bad), Err(MediaError::BadResponse(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn form_encoding() {
    assert_eq!(form_encode("aZ09-._~"), "aZ09-._~");
    assert_eq!(form_encode("a b+/=&é"), "a%20b%2B%2F%3D%26%C3%A9");
}
