//! A Matrix `m.location` into a WhatsApp location: its `geo_uri` and its
//! body as the place's name.

use ruma::events::room::message::LocationMessageEventContent;
use wa_core::proto::Message as WaMessage;

/// The WhatsApp location for an `m.location` from Matrix: its `geo_uri`
/// (`geo:LAT,LONG[,ALT][;params]`, RFC 5870) and its body as the name.
pub(in crate::connector) fn location_from_matrix(
    location: &LocationMessageEventContent,
) -> Result<WaMessage, &'static str> {
    let uri = location.geo_uri.as_str();
    let coords = uri
        .strip_prefix("geo:")
        .and_then(|rest| rest.split(';').next())
        .ok_or("the geo_uri is not a geo: URI")?;
    let mut parts = coords.split(',').map(|p| p.trim().parse::<f64>());
    let (Some(Ok(lat)), Some(Ok(long))) = (parts.next(), parts.next()) else {
        return Err("the geo_uri has no latitude and longitude");
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&long) {
        return Err("the geo_uri is out of range");
    }
    let name = Some(location.body.trim())
        .filter(|b| !b.is_empty() && *b != uri)
        .map(str::to_owned);
    Ok(WaMessage {
        location_message: Some(Box::new(wa_core::proto::message::LocationMessage {
            degrees_latitude: Some(lat),
            degrees_longitude: Some(long),
            name,
            ..Default::default()
        })),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize as _;
    use serde_json::{Value, json};

    #[test]
    fn locations_from_matrix() {
        let place = |mut c: Value| {
            c["msgtype"] = json!("m.location");
            if c.get("body").is_none() {
                c["body"] = json!("");
            }
            let Ok(m) = ruma::events::room::message::RoomMessageEventContent::deserialize(&c)
            else {
                return Err("not a location");
            };
            let ruma::events::room::message::MessageType::Location(l) = &m.msgtype else {
                return Err("not a location");
            };
            location_from_matrix(l).map(|m| {
                let l = m.location_message.unwrap();
                (l.degrees_latitude, l.degrees_longitude, l.name)
            })
        };
        assert_eq!(
            place(json!({"body": "Station", "geo_uri": "geo:48.25,16.5;u=35"})),
            Ok((Some(48.25), Some(16.5), Some("Station".to_owned())))
        );
        assert_eq!(
            place(json!({"body": "geo:-1,2,300", "geo_uri": "geo:-1,2,300"})),
            Ok((Some(-1.0), Some(2.0), None))
        );
        for bad in [
            json!({"body": "x"}),
            json!({"geo_uri": "http://x"}),
            json!({"geo_uri": "geo:1"}),
            json!({"geo_uri": "geo:north,south"}),
            json!({"geo_uri": "geo:91,0"}),
            json!({"geo_uri": "geo:0,181"}),
        ] {
            assert!(place(bad.clone()).is_err(), "{bad}");
        }
    }
}
