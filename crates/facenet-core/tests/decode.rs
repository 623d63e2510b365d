//! Decoding tests. Every fixture is generated here, so no binary files live in the repository.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use facenet_core::decode::{decode_bytes, decode_path, DecodeLimits, Decoded};
use facenet_core::Error;
use image::{ImageEncoder, Rgb, RgbImage};
use sha2::{Digest, Sha256};

const W: u32 = 64;
const H: u32 = 48;

/// A smooth, non-square picture with a saturated red 16x16 block in its top-left corner, large
/// enough to survive JPEG chroma subsampling, so that rotations can be told apart.
fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        if x < 16 && y < 16 {
            Rgb([230, 20, 20])
        } else {
            Rgb([
                (40 + x * 150 / w.max(1)) as u8,
                (60 + y * 150 / h.max(1)) as u8,
                (90 + (x + y) * 60 / (w + h).max(1)) as u8,
            ])
        }
    })
}

fn label(name: &str) -> PathBuf {
    PathBuf::from(name)
}

fn decode(bytes: &[u8], name: &str) -> Result<Decoded, Error> {
    decode_bytes(bytes, &label(name), &DecodeLimits::default())
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode jpeg");
    out
}

fn png_rgb(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode png");
    out
}

/// A PNG written with the `png` crate, for layouts `image` cannot write.
fn png_raw(
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    setup: impl FnOnce(&mut png::Encoder<'_, &mut Vec<u8>>),
    chunks: &[([u8; 4], Vec<u8>)],
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        setup(&mut enc);
        let mut writer = enc.write_header().expect("png header");
        for (name, body) in chunks {
            writer
                .write_chunk(png::chunk::ChunkType(*name), body)
                .expect("png chunk");
        }
        writer.write_image_data(data).expect("png data");
    }
    out
}

/// Big-endian TIFF structure holding only the Orientation tag, as EXIF stores it.
fn exif_tiff(orientation: u16) -> Vec<u8> {
    let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
    t.extend(1u16.to_be_bytes()); // one IFD entry
    t.extend(0x0112u16.to_be_bytes()); // Orientation
    t.extend(3u16.to_be_bytes()); // SHORT
    t.extend(1u32.to_be_bytes()); // count
    t.extend(orientation.to_be_bytes());
    t.extend([0, 0]); // value padding
    t.extend(0u32.to_be_bytes()); // no next IFD
    t
}

/// Inserts an APP1 Exif segment right after SOI.
fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut body = b"Exif\0\0".to_vec();
    body.extend(exif_tiff(orientation));
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((body.len() + 2) as u16).to_be_bytes());
    out.extend(body);
    out.extend(&jpeg[2..]);
    out
}

/// The upright picture a viewer shows for `src` stored with EXIF `orientation`, built from the
/// EXIF definitions independently of the decoder.
fn oriented(src: &RgbImage, orientation: u8) -> RgbImage {
    let (w, h) = src.dimensions();
    let swapped = orientation >= 5;
    let (ow, oh) = if swapped { (h, w) } else { (w, h) };
    RgbImage::from_fn(ow, oh, |x, y| {
        let (sx, sy) = match orientation {
            1 => (x, y),
            2 => (w - 1 - x, y),
            3 => (w - 1 - x, h - 1 - y),
            4 => (x, h - 1 - y),
            5 => (y, x),
            6 => (y, h - 1 - x),
            7 => (w - 1 - y, h - 1 - x),
            8 => (w - 1 - y, x),
            _ => unreachable!(),
        };
        *src.get_pixel(sx, sy)
    })
}

/// (max abs difference, mean abs difference) over all channels.
fn diff(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions(), "dimensions differ");
    let mut max = 0u8;
    let mut sum = 0u64;
    for (p, q) in a.as_raw().iter().zip(b.as_raw()) {
        let d = p.abs_diff(*q);
        max = max.max(d);
        sum += u64::from(d);
    }
    (max, sum as f64 / a.as_raw().len() as f64)
}

fn assert_close(got: &RgbImage, want: &RgbImage, max_mean: f64, what: &str) {
    let (max, mean) = diff(got, want);
    assert!(
        mean <= max_mean,
        "{what}: mean abs diff {mean:.2} (max {max}) over {max_mean}"
    );
}

/// Exact equality without printing whole pixel buffers on failure.
fn assert_same(got: &RgbImage, want: &RgbImage, what: &str) {
    let (max, mean) = diff(got, want);
    assert!(
        max == 0,
        "{what}: differs, max abs diff {max}, mean {mean:.3}"
    );
}

fn is_red(p: &Rgb<u8>) -> bool {
    p[0] > 180 && p[1] < 80 && p[2] < 80
}

fn decode_reason(err: Error) -> String {
    match err {
        Error::Decode { reason, .. } => reason,
        other => panic!("expected a Decode error, got {other:?}"),
    }
}

#[test]
fn jpeg_exif_orientations_3_6_8_are_applied() {
    let src = picture(W, H);
    let base = jpeg(&src);
    for (orientation, corner) in [(3u8, "bottom-right"), (6, "top-right"), (8, "bottom-left")] {
        let d = decode(&with_exif(&base, u16::from(orientation)), "o.jpg").expect("decodes");
        assert_eq!(d.orientation, orientation);
        assert_eq!(d.format, "jpeg");
        let (w, h) = d.image.dimensions();
        if orientation == 3 {
            assert_eq!((w, h), (W, H));
        } else {
            assert_eq!(
                (w, h),
                (H, W),
                "orientation {orientation} swaps width and height"
            );
        }
        let (cx, cy) = match corner {
            "bottom-right" => (w - 4, h - 4),
            "top-right" => (w - 4, 3),
            _ => (3, h - 4),
        };
        assert!(
            is_red(d.image.get_pixel(cx, cy)),
            "orientation {orientation}: marked corner should be {corner}"
        );
        assert!(!is_red(d.image.get_pixel(3, 3)) || corner == "top-left");
        assert_close(&d.image, &oriented(&src, orientation), 3.0, "rotated jpeg");
    }
    // Without EXIF nothing is rotated.
    let d = decode(&base, "o.jpg").expect("decodes");
    assert_eq!(d.orientation, 1);
    assert!(is_red(d.image.get_pixel(3, 3)));
}

#[test]
fn png_exif_all_eight_orientations_exact() {
    let src = picture(W, H);
    for orientation in 1u8..=8 {
        let bytes = png_raw(
            W,
            H,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            |_| {},
            &[(*b"eXIf", exif_tiff(u16::from(orientation)))],
            src.as_raw(),
        );
        let d = decode(&bytes, "o.png").expect("decodes");
        assert_eq!(d.orientation, orientation);
        assert_same(
            &d.image,
            &oriented(&src, orientation),
            &format!("orientation {orientation}"),
        );
    }
}

#[test]
fn broken_exif_is_ignored() {
    let src = picture(W, H);
    let mut bytes = with_exif(&jpeg(&src), 6);
    // Corrupt the TIFF byte-order mark so the EXIF block is unreadable.
    let pos = bytes
        .windows(4)
        .position(|w| w == b"MM\0\x2a")
        .expect("tiff header");
    bytes[pos] = b'X';
    let d = decode(&bytes, "o.jpg").expect("decodes");
    assert_eq!(d.orientation, 1);
    assert_eq!(d.image.dimensions(), (W, H));
}

#[test]
fn gray_jpeg_is_replicated() {
    let src = picture(W, H);
    let gray = image::DynamicImage::ImageRgb8(src.clone()).to_luma8();
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .write_image(gray.as_raw(), W, H, image::ExtendedColorType::L8)
        .expect("encode");
    let d = decode(&bytes, "g.jpg").expect("decodes");
    assert!(d.image.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    let want = RgbImage::from_fn(W, H, |x, y| {
        let v = gray.get_pixel(x, y)[0];
        Rgb([v, v, v])
    });
    assert_close(&d.image, &want, 2.0, "gray jpeg");
}

fn cmyk_of(src: &RgbImage) -> Vec<u8> {
    src.pixels()
        .flat_map(|p| {
            let k = 255 - p[0].max(p[1]).max(p[2]);
            let c = |v: u8| {
                if k == 255 {
                    0
                } else {
                    ((255 - u32::from(v) - u32::from(k)) * 255 / (255 - u32::from(k))) as u8
                }
            };
            [c(p[0]), c(p[1]), c(p[2]), k]
        })
        .collect()
}

#[test]
fn adobe_cmyk_and_ycck_jpegs_decode_to_rgb() {
    let src = picture(W, H);
    let cmyk = cmyk_of(&src);
    for color in [
        jpeg_encoder::ColorType::Cmyk,
        jpeg_encoder::ColorType::CmykAsYcck,
    ] {
        let mut bytes = Vec::new();
        jpeg_encoder::Encoder::new(&mut bytes, 95)
            .encode(&cmyk, W as u16, H as u16, color)
            .expect("encode cmyk");
        assert!(
            bytes.windows(5).any(|w| w == b"Adobe"),
            "Adobe APP14 present"
        );
        let d = decode(&bytes, "cmyk.jpg").expect("decodes");
        assert_close(&d.image, &src, 4.0, &format!("{color:?} jpeg"));
    }
}

#[test]
fn progressive_jpeg_decodes() {
    let src = picture(W, H);
    let mut bytes = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut bytes, 95);
    enc.set_progressive(true);
    enc.encode(
        src.as_raw(),
        W as u16,
        H as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .expect("encode");
    let d = decode(&bytes, "p.jpg").expect("decodes");
    assert_close(&d.image, &src, 3.0, "progressive jpeg");

    let half = &bytes[..bytes.len() / 2];
    assert!(decode_reason(decode(half, "p.jpg").unwrap_err()).contains("truncated"));
}

#[test]
fn png_16bit_rgb_keeps_high_byte() {
    let src = picture(W, H);
    // High byte v, low byte 200: a rounding 16-to-8 conversion would give v + 1.
    let data: Vec<u8> = src.as_raw().iter().flat_map(|&v| [v, 200]).collect();
    let bytes = png_raw(
        W,
        H,
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        |_| {},
        &[],
        &data,
    );
    let d = decode(&bytes, "16.png").expect("decodes");
    assert_same(&d.image, &src, "16-bit png");

    let gray16: Vec<u8> = src
        .pixels()
        .flat_map(|p| (u16::from(p[1]) * 257).to_be_bytes())
        .collect();
    let bytes = png_raw(
        W,
        H,
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        |_| {},
        &[],
        &gray16,
    );
    let d = decode(&bytes, "g16.png").expect("decodes");
    assert!(d.image.enumerate_pixels().all(|(x, y, p)| {
        let v = src.get_pixel(x, y)[1];
        p.0 == [v, v, v]
    }));
}

#[test]
fn rgba_png_with_zero_alpha_keeps_rgb() {
    let src = picture(W, H);
    let data: Vec<u8> = src.pixels().flat_map(|p| [p[0], p[1], p[2], 0]).collect();
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&data, W, H, image::ExtendedColorType::Rgba8)
        .expect("encode");
    assert_same(
        &decode(&bytes, "a.png").expect("decodes").image,
        &src,
        "rgba png",
    );

    let la: Vec<u8> = src.pixels().flat_map(|p| [p[1], 0]).collect();
    let bytes = png_raw(
        W,
        H,
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        |_| {},
        &[],
        &la,
    );
    let d = decode(&bytes, "la.png").expect("decodes");
    assert!(d
        .image
        .enumerate_pixels()
        .all(|(x, y, p)| p.0 == [src.get_pixel(x, y)[1]; 3]));
}

#[test]
fn palette_png_with_trns_decodes_exactly() {
    // A picture with only 4 colours, so a palette holds it exactly.
    let colours = [
        [230u8, 20, 20],
        [10, 200, 30],
        [30, 40, 220],
        [250, 250, 250],
    ];
    let src = RgbImage::from_fn(W, H, |x, y| Rgb(colours[((x / 8 + y / 8) % 4) as usize]));
    let indices: Vec<u8> = (0..H)
        .flat_map(|y| (0..W).map(move |x| ((x / 8 + y / 8) % 4) as u8))
        .collect();
    let palette: Vec<u8> = colours.iter().flatten().copied().collect();
    let bytes = png_raw(
        W,
        H,
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        |enc| {
            enc.set_palette(palette.clone());
            // Index 1 fully transparent, index 2 half: alpha must be dropped, not composited.
            enc.set_trns(vec![255u8, 0, 128]);
        },
        &[],
        &indices,
    );
    let d = decode(&bytes, "p.png").expect("decodes");
    assert_same(&d.image, &src, "palette png");

    // 1-bit gray expands to 0/255.
    let bits: Vec<u8> = (0..H)
        .flat_map(|y| (0..W / 8).map(move |_| if y % 2 == 0 { 0xAA } else { 0x00 }))
        .collect();
    let bytes = png_raw(
        W,
        H,
        png::ColorType::Grayscale,
        png::BitDepth::One,
        |_| {},
        &[],
        &bits,
    );
    let d = decode(&bytes, "1bit.png").expect("decodes");
    assert_eq!(d.image.get_pixel(0, 0).0, [255; 3]);
    assert_eq!(d.image.get_pixel(1, 0).0, [0; 3]);
    assert_eq!(d.image.get_pixel(0, 1).0, [0; 3]);
}

#[test]
fn other_formats_decode() {
    let src = picture(W, H);
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(src.as_raw(), W, H, image::ExtendedColorType::Rgb8)
        .expect("webp");
    let mut bmp = Vec::new();
    image::codecs::bmp::BmpEncoder::new(&mut bmp)
        .write_image(src.as_raw(), W, H, image::ExtendedColorType::Rgb8)
        .expect("bmp");
    let mut tiff = Cursor::new(Vec::new());
    image::codecs::tiff::TiffEncoder::new(&mut tiff)
        .write_image(src.as_raw(), W, H, image::ExtendedColorType::Rgb8)
        .expect("tiff");
    for (bytes, format) in [(webp, "webp"), (bmp, "bmp"), (tiff.into_inner(), "tiff")] {
        let d = decode(&bytes, "x.bin").expect(format);
        assert_eq!(d.format, format);
        assert_same(&d.image, &src, format);
    }

    // GIF: two frames, the first one must come back.
    let mut gif = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        let first = image::RgbaImage::from_fn(W, H, |x, y| {
            let p = src.get_pixel(x, y);
            image::Rgba([p[0], p[1], p[2], 255])
        });
        let second = image::RgbaImage::from_pixel(W, H, image::Rgba([0, 0, 255, 255]));
        enc.encode_frames([image::Frame::new(first), image::Frame::new(second)])
            .expect("gif");
    }
    let d = decode(&gif, "x.gif").expect("gif");
    assert_eq!(d.format, "gif");
    assert!(is_red(d.image.get_pixel(3, 3)), "first frame");
    assert_close(&d.image, &src, 6.0, "gif first frame");
}

#[test]
fn bad_inputs_are_decode_errors() {
    let src = picture(W, H);
    let jpg = jpeg(&src);
    let reason = decode_reason(decode(&jpg[..jpg.len() / 2], "half.jpg").unwrap_err());
    assert!(reason.contains("truncated"), "{reason}");

    let png = png_rgb(&src);
    let reason = decode_reason(decode(&png[..png.len() / 2], "half.png").unwrap_err());
    assert!(reason.contains("truncated"), "{reason}");
    // Only IEND missing.
    let reason = decode_reason(decode(&png[..png.len() - 12], "noend.png").unwrap_err());
    assert!(reason.contains("truncated"), "{reason}");

    let err = decode(&[], "empty.jpg").unwrap_err();
    assert!(err.to_string().contains("empty.jpg"), "{err}");
    assert_eq!(decode_reason(err), "file is empty");

    // xorshift noise, with a first byte no image signature starts with
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut noise: Vec<u8> = (0..4096)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect();
    noise[0] = b'z';
    let reason = decode_reason(decode(&noise, "noise.jpg").unwrap_err());
    assert_eq!(reason, "not a recognised image format");

    // A JPEG signature followed by noise.
    let mut fake = vec![0xFF, 0xD8, 0xFF];
    fake.extend(&noise);
    assert!(matches!(
        decode(&fake, "fake.jpg"),
        Err(Error::Decode { .. })
    ));

    let d = decode(&png, "actually_png.jpg").expect("sniffed, not by extension");
    assert_eq!(d.format, "png");
    assert_same(&d.image, &src, "png named .jpg");
}

#[test]
fn every_prefix_and_byte_flip_fails_cleanly() {
    let src = picture(24, 20);
    let mut jpg = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut jpg, 90);
    enc.set_progressive(true);
    enc.encode(src.as_raw(), 24, 20, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    for (bytes, what) in [
        (jpeg(&src), "jpeg"),
        (jpg, "progressive jpeg"),
        (png_rgb(&src), "png"),
    ] {
        for cut in 1..bytes.len() {
            assert!(
                decode(&bytes[..cut], "cut").is_err(),
                "{what}: prefix of {cut} of {} bytes accepted",
                bytes.len()
            );
        }
        for i in (0..bytes.len()).step_by(3) {
            let mut b = bytes.clone();
            b[i] ^= 0x5A;
            let _ = decode(&b, "flipped"); // must not panic or hang
        }
    }
}

#[test]
fn decompression_bomb_is_refused_from_the_header() {
    let side = 40_000u32;
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, side, side);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        enc.set_compression(png::Compression::High);
        let mut writer = enc.write_header().expect("header");
        let mut stream = writer.stream_writer().expect("stream");
        let row = vec![0u8; (side / 8) as usize];
        for _ in 0..side {
            std::io::Write::write_all(&mut stream, &row).expect("row");
        }
        stream.finish().expect("finish");
    }
    // 200 MB of zero rows: deflate's 1032:1 ceiling makes this about 200 KB.
    assert!(bytes.len() < 400 << 10, "bomb is {} bytes", bytes.len());
    let start = Instant::now();
    let err = decode(&bytes, "bomb.png").unwrap_err();
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    match err {
        Error::TooLarge {
            width,
            height,
            pixels,
            limit,
            ..
        } => {
            assert_eq!((width, height), (40_000, 40_000));
            assert_eq!(pixels, 1_600_000_000);
            assert_eq!(limit, DecodeLimits::default().max_pixels);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }

    // A JPEG header claiming 65000x65000 is refused before its (missing) data is looked at.
    let mut jpg = jpeg(&picture(16, 16));
    let sof = jpg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    jpg[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    assert!(matches!(
        decode(&jpg, "big.jpg"),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn limits_are_configurable() {
    let png = png_rgb(&picture(W, H));
    let tight = DecodeLimits {
        max_pixels: u64::from(W * H) - 1,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_bytes(&png, &label("x.png"), &tight),
        Err(Error::TooLarge { .. })
    ));
    let exact = DecodeLimits {
        max_pixels: u64::from(W * H),
        ..DecodeLimits::default()
    };
    assert!(decode_bytes(&png, &label("x.png"), &exact).is_ok());

    let small_file = DecodeLimits {
        max_file_bytes: 100,
        ..DecodeLimits::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.png");
    std::fs::write(&path, &png).expect("write");
    let reason = decode_reason(decode_path(&path, &small_file).unwrap_err());
    assert!(reason.contains("over the limit"), "{reason}");
    assert!(DecodeLimits::default().max_pixels >= 6000 * 6000);
}

#[test]
fn tiny_and_thin_images_decode() {
    for (w, h) in [(1u32, 1u32), (12, 12), (10_000, 100), (100, 10_000)] {
        let src = picture(w, h);
        let d = decode(&png_rgb(&src), "s.png").expect("png");
        assert_same(&d.image, &src, "small png");
        let d = decode(&jpeg(&src), "s.jpg").expect("jpeg");
        assert_eq!(d.image.dimensions(), (w, h));
    }
}

#[test]
fn paths_unicode_missing_and_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = picture(W, H);
    for name in ["тест_测试.png", "写真 фото.jpg"] {
        let path = dir.path().join(name);
        let bytes = if name.ends_with(".png") {
            png_rgb(&src)
        } else {
            jpeg(&src)
        };
        std::fs::write(&path, bytes).expect("write");
        let d = decode_path(&path, &DecodeLimits::default()).expect(name);
        assert_eq!(d.image.dimensions(), (W, H));
    }
    let missing = dir.path().join("нет.png");
    match decode_path(&missing, &DecodeLimits::default()) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(decode_path(dir.path(), &DecodeLimits::default()).is_err());
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").expect("write");
    assert_eq!(
        decode_reason(decode_path(&empty, &DecodeLimits::default()).unwrap_err()),
        "file is empty"
    );
}

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FACENET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.join("reference/mtcnn.json").is_file().then_some(dir)
}

#[test]
fn parity_with_reference_decoder() {
    let Some(shared) = shared_dir() else {
        eprintln!(
            "!!! SKIPPED parity_with_reference_decoder: no shared/reference/mtcnn.json (set FACENET_SHARED)"
        );
        return;
    };
    let text = std::fs::read_to_string(shared.join("reference/mtcnn.json")).expect("read json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse json");
    let images = json["images"].as_array().expect("images");
    // JPEGs go through libjpeg-turbo's decoder, as in the reference's Pillow: every buffer must be
    // byte-identical.
    let mut mismatched = Vec::new();
    for entry in images {
        let rel = entry["path"].as_str().expect("path");
        let want = entry["rgb_sha256"].as_str().expect("rgb_sha256");
        let d = decode_path(&shared.join(rel), &DecodeLimits::default()).expect(rel);
        assert_eq!(d.orientation, 1, "{rel}: the reference never rotated");
        assert_eq!(
            (u64::from(d.image.width()), u64::from(d.image.height())),
            (
                entry["width"].as_u64().expect("width"),
                entry["height"].as_u64().expect("height")
            )
        );
        if hex::encode(Sha256::digest(d.image.as_raw())) != want {
            mismatched.push(rel.to_string());
        }
    }
    assert!(
        mismatched.is_empty(),
        "decoded pixels differ from the reference for {} of {} images: {mismatched:?}",
        mismatched.len(),
        images.len()
    );
}
