//! Image file decoding to upright 8-bit RGB, as the original pipeline's `scipy.misc.imread` saw it.
//!
//! The original pipeline decoded with PIL and then kept `img[:, :, 0:3]`, so gray is replicated and
//! an alpha channel is dropped without compositing. Unlike it, EXIF orientation is applied here so
//! that phone photos are upright; [`Decoded::orientation`] says which transform was applied.
//!
//! Inputs are untrusted: the format is sniffed from the content, the pixel count is checked from the
//! header before any pixel buffer is allocated, and truncated files are refused rather than decoded
//! into a half-gray picture.

use std::fs::File;
use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Bounds on what an input file may cost to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted `width * height`, checked from the header before decoding.
    pub max_pixels: u64,
    /// Largest accepted file size in bytes, checked before the file is read whole.
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 40 MP lets a 6000x6000 camera photo through; 64 MiB covers any sane JPEG or PNG of that.
        DecodeLimits {
            max_pixels: 40_000_000,
            max_file_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A decoded, upright image.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Pixels after the EXIF orientation was applied, alpha dropped, 8 bits per channel.
    pub image: RgbImage,
    /// EXIF orientation (1..=8) that was applied; 1 when the file has none.
    pub orientation: u8,
    /// Container format found from the content: "jpeg", "png", "webp", "bmp", "tiff" or "gif".
    pub format: &'static str,
}

/// Reads and decodes the image file at `path`.
pub fn decode_path(path: &Path, limits: &DecodeLimits) -> Result<Decoded> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    // Read at most one byte past the limit rather than trusting metadata: the file may be a pipe or
    // a device, or may grow while it is read.
    let mut bytes = Vec::new();
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    check_file_size(bytes.len() as u64, path, limits)?;
    decode_bytes(&bytes, path, limits)
}

/// Decodes an image held in memory; `label` names the source in errors.
pub fn decode_bytes(bytes: &[u8], label: &Path, limits: &DecodeLimits) -> Result<Decoded> {
    check_file_size(bytes.len() as u64, label, limits)?;
    if bytes.is_empty() {
        return Err(decode_err(label, "file is empty"));
    }
    // Third-party decoders have panicked on hostile input before; a bad upload must not take the
    // whole process down.
    match catch_unwind(AssertUnwindSafe(|| decode_inner(bytes, label, limits))) {
        Ok(result) => result,
        Err(_) => Err(decode_err(label, "decoder failed on malformed data")),
    }
}

fn decode_inner(bytes: &[u8], label: &Path, limits: &DecodeLimits) -> Result<Decoded> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_err(label, format!("cannot read: {e}")))?;
    let Some(format) = reader.format() else {
        return Err(decode_err(label, "not a recognised image format"));
    };
    let format_name = match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Gif => "gif",
        other => {
            return Err(decode_err(
                label,
                format!("unsupported image format {other:?}"),
            ))
        }
    };

    let alloc_limit = alloc_limit(limits);
    let mut reader = reader;
    let mut image_limits = image::Limits::default();
    // A second line behind the header check below, for decoders that allocate while parsing.
    image_limits.max_alloc = Some(alloc_limit);
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| image_err(label, format, e, limits))?;

    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(too_large(label, width, height, limits));
    }
    if width == 0 || height == 0 {
        return Err(Error::TooSmall {
            path: label.to_path_buf(),
            width,
            height,
        });
    }
    if decoder.total_bytes() > alloc_limit {
        return Err(too_large(label, width, height, limits));
    }
    check_complete(bytes, format, label)?;

    // Broken EXIF must not cost the user the picture: PIL ignored EXIF entirely, so an unreadable
    // orientation falls back to "as stored".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let exact = match format {
        ImageFormat::Jpeg => decode_jpeg_libjpeg(bytes, label)?,
        _ => None,
    };
    let mut dynamic = match exact {
        Some(rgb) => DynamicImage::ImageRgb8(rgb),
        None => {
            DynamicImage::from_decoder(decoder).map_err(|e| image_err(label, format, e, limits))?
        }
    };
    dynamic.apply_orientation(orientation);

    Ok(Decoded {
        image: to_rgb8(dynamic),
        orientation: orientation.to_exif(),
        format: format_name,
    })
}

/// JPEG through libjpeg-turbo's decoder (as mozjpeg ships it): the same integer IDCT and fancy
/// upsampling as the Pillow the original pipeline used, so pixels match it exactly. zune-jpeg,
/// `image`'s decoder, differs by up to 6 levels, which moves MTCNN boxes by pixels. `None` for
/// CMYK/YCCK files, which libjpeg cannot turn into RGB; `image` handles those.
fn decode_jpeg_libjpeg(bytes: &[u8], label: &Path) -> Result<Option<RgbImage>> {
    let run = || -> std::io::Result<Option<RgbImage>> {
        let d = mozjpeg::Decompress::new_mem(bytes)?;
        if matches!(
            d.color_space(),
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK
        ) {
            return Ok(None);
        }
        let mut started = d.rgb()?;
        let (w, h) = (started.width() as u32, started.height() as u32);
        let pixels = started.read_scanlines::<u8>()?;
        started.finish()?;
        Ok(RgbImage::from_raw(w, h, pixels))
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(Some(img))) => Ok(Some(img)),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(e)) => Err(decode_err(label, format!("truncated or corrupt JPEG: {e}"))),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "decoder failed".to_string());
            Err(decode_err(
                label,
                format!("truncated or corrupt JPEG: {msg}"),
            ))
        }
    }
}

/// Budget for one decoded buffer: the widest layout the enabled decoders produce (RGBA, 16-bit) at
/// the pixel limit, plus headroom for metadata and decoder state.
fn alloc_limit(limits: &DecodeLimits) -> u64 {
    limits
        .max_pixels
        .saturating_mul(8)
        .saturating_add(64 * 1024 * 1024)
}

fn check_file_size(len: u64, label: &Path, limits: &DecodeLimits) -> Result<()> {
    if len > limits.max_file_bytes {
        return Err(decode_err(
            label,
            format!("file is over the limit of {} bytes", limits.max_file_bytes),
        ));
    }
    Ok(())
}

/// Refuses files whose data stops early. zune-jpeg (as `image` drives it, non-strict) fills a
/// missing tail with gray and reports success, which would hand the detector half a picture.
fn check_complete(bytes: &[u8], format: ImageFormat, label: &Path) -> Result<()> {
    match format {
        ImageFormat::Jpeg => match jpeg_scan_has_eoi(bytes) {
            Some(false) => Err(decode_err(
                label,
                "truncated or corrupt JPEG: truncated, no end-of-image marker after the image data",
            )),
            _ => Ok(()),
        },
        ImageFormat::Png => {
            if png_has_iend(bytes) {
                Ok(())
            } else {
                Err(decode_err(
                    label,
                    "truncated or corrupt PNG: truncated, the file ends before its IEND chunk",
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Whether an EOI marker follows the first scan. Walks the marker segments by their lengths so that
/// an EOI inside an embedded EXIF thumbnail is not mistaken for the image's own; entropy-coded data
/// cannot contain `FF D9` because of byte stuffing. `None` when the header structure is too unusual
/// to judge, leaving the verdict to the decoder.
fn jpeg_scan_has_eoi(b: &[u8]) -> Option<bool> {
    let mut i = 2usize; // after SOI
    loop {
        if i + 1 >= b.len() {
            return Some(false);
        }
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        match marker {
            // Fill bytes before a marker.
            0xFF => i += 1,
            // Markers without a length field.
            0x01 | 0xD0..=0xD7 | 0xD8 => i += 2,
            // EOI before any scan: a tables-only stream, which the decoder will refuse itself.
            0xD9 => return None,
            _ => {
                if i + 3 >= b.len() {
                    return Some(false);
                }
                let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
                if marker == 0xDA {
                    return Some(
                        b.get(i + 2 + len..)
                            .is_some_and(|scan| scan.windows(2).any(|w| w == [0xFF, 0xD9])),
                    );
                }
                i += 2 + len;
            }
        }
    }
}

/// Whether the chunk chain reaches IEND without running past the end of the data.
fn png_has_iend(b: &[u8]) -> bool {
    let mut i = 8usize; // after the signature
    while let Some(header) = b.get(i..i + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if &header[4..8] == b"IEND" {
            // IEND's CRC must be there too.
            return b.len() >= i + 12;
        }
        // length + type + data + CRC
        i = match i.checked_add(12).and_then(|v| v.checked_add(len)) {
            Some(next) => next,
            None => return false,
        };
    }
    false
}

/// 8-bit RGB as `scipy.misc.imread(...)[:, :, 0:3]` gives it: gray replicated, alpha dropped
/// (not composited), 16-bit reduced to its high byte as PIL's `RGB;16B` raw mode does.
fn to_rgb8(img: DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let from_fn = |data: &[u16], channels: usize| -> RgbImage {
        let mut out = Vec::with_capacity(w as usize * h as usize * 3);
        for px in data.chunks_exact(channels) {
            if channels >= 3 {
                out.extend(px[..3].iter().map(|&v| (v >> 8) as u8));
            } else {
                let v = (px[0] >> 8) as u8;
                out.extend([v, v, v]);
            }
        }
        RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h))
    };
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgba8(rgba) => {
            let out = rgba
                .as_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]]);
            RgbImage::from_raw(w, h, out.collect()).unwrap_or_else(|| RgbImage::new(w, h))
        }
        DynamicImage::ImageLuma8(gray) => {
            let out = gray.as_raw().iter().flat_map(|&v| [v, v, v]);
            RgbImage::from_raw(w, h, out.collect()).unwrap_or_else(|| RgbImage::new(w, h))
        }
        DynamicImage::ImageLumaA8(gray) => {
            let out = gray
                .as_raw()
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0]]);
            RgbImage::from_raw(w, h, out.collect()).unwrap_or_else(|| RgbImage::new(w, h))
        }
        DynamicImage::ImageRgb16(img) => from_fn(img.as_raw(), 3),
        DynamicImage::ImageRgba16(img) => from_fn(img.as_raw(), 4),
        DynamicImage::ImageLuma16(img) => from_fn(img.as_raw(), 1),
        DynamicImage::ImageLumaA16(img) => from_fn(img.as_raw(), 2),
        // Float TIFFs: `image`'s own conversion, which drops alpha too and clamps to 0..=1.
        other => other.to_rgb8(),
    }
}

fn decode_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Decode {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn too_large(path: &Path, width: u32, height: u32, limits: &DecodeLimits) -> Error {
    Error::TooLarge {
        path: path.to_path_buf(),
        width: u64::from(width),
        height: u64::from(height),
        pixels: u64::from(width) * u64::from(height),
        limit: limits.max_pixels,
    }
}

fn image_err(path: &Path, format: ImageFormat, err: ImageError, limits: &DecodeLimits) -> Error {
    let name = match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Gif => "GIF",
        _ => "image",
    };
    match err {
        ImageError::Limits(e) => decode_err(
            path,
            format!(
                "{name} needs more memory than the limit for {} pixels allows: {e}",
                limits.max_pixels
            ),
        ),
        ImageError::Unsupported(e) => decode_err(path, format!("unsupported {name}: {e}")),
        e => decode_err(path, format!("truncated or corrupt {name}: {e}")),
    }
}
