//! Small synthetic files for attachment tests.

/// A `width` x `height` RGB PNG with a gradient.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let data: Vec<u8> = (0..width * height)
            .flat_map(|i| [(i % 251) as u8, (i / width % 256) as u8, 99])
            .collect();
        writer.write_image_data(&data).unwrap();
    }
    out
}

/// `n` bytes that are not all alike (xorshift from `seed`), deterministic.
pub fn varied_bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Bytes shaped like an Ogg/Opus voice note: an `OpusHead` page, then
/// `payload` varied bytes. Enough for anything that sniffs the container;
/// not decodable audio.
pub fn ogg_opus_like(payload: usize) -> Vec<u8> {
    let mut out = b"OggS\x00\x02".to_vec();
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
    out.extend(varied_bytes(payload, 0x0660_0660));
    out
}

/// A RIFF/WEBP container (a `VP8L` chunk of `payload` varied bytes):
/// what a sticker's file looks like from outside.
pub fn webp_like(payload: usize) -> Vec<u8> {
    let chunk = varied_bytes(payload, 0x7eb_0007);
    let chunk_len = u32::try_from(chunk.len()).unwrap();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + 8 + chunk_len).to_le_bytes());
    out.extend_from_slice(b"WEBPVP8L");
    out.extend_from_slice(&chunk_len.to_le_bytes());
    out.extend(chunk);
    out
}
