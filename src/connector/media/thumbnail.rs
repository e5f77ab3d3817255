//! Small JPEG thumbnails for outgoing images (WhatsApp shows `jpegThumbnail`
//! until the full image is loaded) and image dimensions. CPU-bound: callers
//! run these off the async threads.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageReader, Limits};

/// The longest side of a thumbnail we make, in pixels.
pub(super) const MAX_SIDE: u32 = 72;

/// Decoding an image that needs more memory than this is not worth its
/// thumbnail (a 4000x4000 RGBA image needs 64 MiB).
const MAX_DECODE_ALLOC: u64 = 96 << 20;

/// A thumbnail and the size of the image it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Thumbnail {
    /// JPEG, at most [`MAX_SIDE`] on its longest side.
    pub jpeg: Vec<u8>,
    /// Width of the source image.
    pub width: u32,
    /// Height of the source image.
    pub height: u32,
}

/// A JPEG thumbnail of the image in `data` (PNG, JPEG, WebP or GIF); `None`
/// if it does not decode or is too large to decode.
pub(super) fn make(data: &[u8]) -> Option<Thumbnail> {
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .ok()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let (width, height) = (image.width(), image.height());
    let small = image.thumbnail(MAX_SIDE, MAX_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&small)
        .ok()?;
    Some(Thumbnail {
        jpeg,
        width,
        height,
    })
}

/// Width and height of the image in `data`, read from its header only.
pub(super) fn dimensions(data: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn thumbnails_fit_and_are_jpeg() {
        let t = make(&png(300, 150)).expect("a thumbnail");
        assert_eq!((t.width, t.height), (300, 150));
        assert_eq!(&t.jpeg[..3], &[0xff, 0xd8, 0xff], "JPEG magic");
        let (w, h) = dimensions(&t.jpeg).unwrap();
        assert_eq!((w, h), (MAX_SIDE, MAX_SIDE / 2));
        let small = make(&png(10, 20)).unwrap();
        assert!(dimensions(&small.jpeg).unwrap().1 <= MAX_SIDE);
    }

    #[test]
    fn garbage_has_no_thumbnail() {
        assert_eq!(make(b"not an image at all"), None);
        assert_eq!(dimensions(b""), None);
    }
}
