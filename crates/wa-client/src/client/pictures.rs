//! Profile and group pictures (`xmlns="w:profile:picture"`), as whatsmeow
//! 33cfac51 asks for and sets them (`user.go` `GetProfilePictureInfo`,
//! `group.go` `SetGroupPhoto`): `<iq type=get to=s.whatsapp.net
//! target=JID><picture type=image query=url [id=KNOWN]/></iq>`, answered by
//! `<picture id url direct_path type/>`, `status="304"` (still `KNOWN`),
//! 404 (none) or 401 (hidden from us); a set carries the JPEG as the
//! `<picture type=image>` content (none: removed) and answers `<picture
//! id/>`. Changes arrive as `<notification type=picture>` (see
//! [`ClientEvent::Picture`](super::ClientEvent::Picture)).

use wa_core::binary::Node;
use wa_core::jid::Jid;

use super::{Client, SendError};
use crate::error::Error;
use crate::media::MediaError;

/// What the server says of someone's (or a group's) picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picture {
    /// Still the one asked about (its id was given).
    Unchanged,
    /// There is none.
    None,
    /// Its owner's privacy settings hide it from this account.
    Hidden,
    /// The picture: its id (a new one means a new picture) and the URL of
    /// the JPEG.
    At {
        /// The picture's id.
        id: String,
        /// Where to fetch it ([`Client::download_picture`]).
        url: String,
    },
}

/// The largest picture fetched: WhatsApp's are 640x640 JPEGs, far smaller.
const MAX_PICTURE: u64 = 5 << 20;

fn picture_iq(kind: &str, target: &Jid, picture: Option<Node>) -> Node {
    let iq = Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("target", target.to_non_ad())
        .attr("type", kind.to_owned())
        .attr("xmlns", "w:profile:picture");
    match picture {
        Some(p) => iq.children(vec![p]),
        None => iq,
    }
}

impl Client {
    /// The picture of `of` (a user or a group); `known` is the id of the
    /// one we have, if any (the server then says whether it changed).
    pub async fn picture(&self, of: &Jid, known: Option<&str>) -> Result<Picture, SendError> {
        let conn = self.connection()?;
        let mut ask = Node::new("picture")
            .attr("type", "image")
            .attr("query", "url");
        if let Some(id) = known {
            ask = ask.attr("id", id.to_owned());
        }
        let answer = match conn.iq(picture_iq("get", of, Some(ask))).await {
            Ok(a) => a,
            Err(Error::Iq { code: 401, .. }) => return Ok(Picture::Hidden),
            Err(Error::Iq { code: 404, .. }) => return Ok(Picture::None),
            Err(e) => return Err(e.into()),
        };
        let Some(p) = answer.child("picture") else {
            return Ok(match known {
                Some(_) => Picture::Unchanged,
                None => Picture::None,
            });
        };
        match p.attr_str("status") {
            Some("304") => return Ok(Picture::Unchanged),
            Some("204") => return Ok(Picture::None),
            _ => {}
        }
        match (p.attr_str("id"), p.attr_str("url")) {
            (Some(id), Some(url)) => Ok(Picture::At {
                id: id.to_owned(),
                url: url.to_owned(),
            }),
            _ => Err(SendError::Refused(format!(
                "unexpected picture answer: {answer}"
            ))),
        }
    }

    /// Fetches a picture (a JPEG) from the URL [`Client::picture`] gave.
    pub async fn download_picture(&self, url: &str) -> Result<Vec<u8>, MediaError> {
        if !url.starts_with("https://") {
            return Err(MediaError::BadMediaConn("a picture URL that is not https"));
        }
        self.shared.media_http()?.download(url, MAX_PICTURE).await
    }

    /// Sets `of`'s picture (ours, or a group's we may edit) to `jpeg`, or
    /// removes it with `None`; the new picture's id.
    pub async fn set_picture(
        &self,
        of: &Jid,
        jpeg: Option<Vec<u8>>,
    ) -> Result<Option<String>, SendError> {
        let conn = self.connection()?;
        let picture = jpeg.map(|j| Node::new("picture").attr("type", "image").bytes(j));
        let answer = conn.iq(picture_iq("set", of, picture)).await?;
        Ok(answer
            .child("picture")
            .and_then(|p| p.attr_str("id"))
            .map(str::to_owned))
    }
}
