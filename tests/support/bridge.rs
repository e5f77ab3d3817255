//! The bridge run inside a test process, and what its login flow needs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wabridge::config::Config;

/// A bridge running in this process until [`Bridge::stop`].
pub struct Bridge {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), wabridge::bridge::BridgeError>>,
}

impl Bridge {
    /// Starts the bridge with `config`, its appservice listening on `port`.
    pub async fn start(config: &Config, port: u16) -> Bridge {
        // The previous run may still hold the port for a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebinding {port}: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("bind {port}: {e}"),
            }
        };
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(wabridge::bridge::run_with(
            wabridge::connector::WhatsApp::default(),
            config.clone(),
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        Bridge { stop, task }
    }

    /// Stops the bridge and checks it ran cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("bridge stops in time")
            .expect("bridge task")
            .expect("bridge ran cleanly");
    }
}

/// A fresh directory under the system's temp dir, named `prefix-<random>`.
pub fn tempdir(prefix: &str) -> PathBuf {
    let bytes: [u8; 6] = rand::random();
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", hex::encode(bytes)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The text of the QR code in a PNG.
pub fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

/// A bridge config for tests against `sim`: appservice on `port`, SQLite or
/// PostgreSQL at `db`, `@alice:<domain>` allowed. The homeserver address is
/// a placeholder until the test's Synapse is up.
pub fn sim_config(sim: &wa_sim::Sim, port: u16, domain: &str, db: &str) -> Config {
    let kind = if db.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let yaml = format!(
        r#"
homeserver:
    address: http://127.0.0.1:1
    domain: {domain}
appservice:
    address: http://127.0.0.1:{port}
    hostname: 127.0.0.1
    port: {port}
    as_token: {as_token}
    hs_token: {hs_token}
database:
    type: {kind}
    uri: "{db}"
bridge:
    permissions:
        "@alice:{domain}": user
    max_media_bytes: 104857600
    # Short, so tests see the user go offline on WhatsApp again.
    presence:
        idle_seconds: 3
network:
    url: {url}
    root_key: {root}
    media_ca_file: {ca}
    device_name: wabridge-test
logging:
    level: info
"#,
        as_token = wabridge::config::generate_token(),
        hs_token = wabridge::config::generate_token(),
        url = sim.url(),
        root = hex::encode(sim.root_public_key()),
        ca = sim.media_ca_pem_path().display(),
    );
    yaml.parse::<Config>().expect("test config is valid")
}

/// Writes the bridge's registration (and, with `double_puppet`, a
/// double-puppet registration whose secret goes into `config`) to `dir`,
/// starts Synapse with them and points `config` at it.
pub async fn start_synapse(
    config: &mut Config,
    dir: &std::path::Path,
    double_puppet: bool,
) -> super::synapse::Synapse {
    use wabridge::config::{Registration, Token};
    let registration = Registration::new(config, config.appservice.bot.username.clone());
    let reg_path = dir.join("registration.yaml");
    std::fs::write(&reg_path, registration.to_yaml().unwrap()).unwrap();
    let mut paths = vec![reg_path];
    if double_puppet {
        let domain = config.homeserver.domain.clone();
        let puppet = Registration::double_puppet(&domain);
        let path = dir.join("doublepuppet.yaml");
        std::fs::write(&path, puppet.to_yaml().unwrap()).unwrap();
        paths.push(path);
        config.double_puppet.secrets.insert(
            domain,
            Token::new(format!("as_token:{}", puppet.as_token.expose())),
        );
    }
    let synapse = super::synapse::Synapse::start(&paths).await;
    config.homeserver.address = synapse.base_url().to_owned();
    synapse
}

/// A wa-sim on a free port of 127.0.0.1.
pub async fn start_sim() -> wa_sim::Sim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    wa_sim::Sim::start(listener).await.unwrap()
}
