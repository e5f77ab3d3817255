//! Media: `media_conn` and the HTTPS upload/download host (not yet built).

use wa_core::binary::Node;

/// The media host of a simulator.
#[derive(Debug)]
pub(crate) struct MediaServer {}

impl MediaServer {
    /// Starts the media host on loopback.
    pub(crate) async fn start() -> std::io::Result<MediaServer> {
        Ok(MediaServer {})
    }

    /// The answer to `<iq xmlns="w:m" type="set"><media_conn/></iq>`, if media
    /// is served.
    pub(crate) fn media_conn(&self) -> Option<Node> {
        None
    }
}
