//! The pairing QR code as a PNG image for the management room.

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module.
const SCALE: usize = 8;
/// Light modules around the code, as the QR standard asks.
const QUIET: usize = 4;

/// Why a QR image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("text does not fit in a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    /// PNG encoding failed.
    #[error("png: {0}")]
    Png(#[from] png::EncodingError),
}

/// A grayscale PNG of `text` as a QR code (about 500 px square for a
/// WhatsApp pairing string).
pub fn qr_png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            let row = y * side;
            pixels[row + mx * SCALE..row + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).unwrap_or(u32::MAX);
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

/// Size in pixels of the square image [`qr_png`] makes for `text`.
pub fn qr_side(text: &str) -> Option<u32> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).ok()?;
    u32::try_from((code.width() + 2 * QUIET) * SCALE).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG made by [`qr_png`] back to its text.
    fn decode(png_bytes: &[u8]) -> String {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn a_pairing_string_round_trips_through_the_png() {
        let text = "2@AbCdEf0123456789+/=xyzXYZ,jBvL3ZkGmFk0Y8QWwY2rS8Tn9wYHhJd0b6g0m5y2xX8=,\
                    n1l+GvH1xq0pQ8l9VZbXGmQ0Jk3c7tQ5r0x3w2yZ1aA=,Zm9vYmFyYmF6cXV4cXV1eGNvcmdl";
        let png = qr_png(text).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(decode(&png), text);
        assert!(qr_side(text).unwrap() >= 400);
    }
}
