//! End-to-end tests of `facenet align` (align_dataset_mtcnn.py): real LFW photos through the real
//! binary and the fetched models, crops checked pixel for pixel against the reference run.
//!
//! Needs the fetched model package (default `~/.facenet`) and the shared data (`../shared` beside
//! the checkout, or `$FACENET_SHARED`); the tests skip loudly when the data is absent.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use facenet_core::decode::{decode_path, DecodeLimits};
use facenet_core::image::{self, ImageEncoder, RgbImage};
use serde_json::Value;

mod common;

use common::{facenet, Run};

const OK: i32 = 0;
const BAD_INPUT: i32 = 3;

const CHO: &str = "Cho_Myung-kyun/Cho_Myung-kyun_0001.jpg";

/// The test tree: class directory → LFW photos (`<person>/<file>` under the LFW images). Goh_Kun
/// and Colin_Farrell_0007 have reference crops too; Cho_Myung-kyun holds three faces.
const TREE: &[(&str, &[&str])] = &[
    ("Cho_Myung-kyun", &[CHO, "Goh_Kun/Goh_Kun_0001.jpg"]),
    (
        "Colin_Farrell",
        &[
            "Colin_Farrell/Colin_Farrell_0001.jpg",
            "Colin_Farrell/Colin_Farrell_0002.jpg",
            "Colin_Farrell/Colin_Farrell_0007.jpg",
        ],
    ),
];

/// Aligned photos in [`TREE`].
const PHOTOS: usize = 5;

// ---------------------------------------------------------------------------------------------
// Running the binary

/// `facenet align --json <input> <output> <extra...>`.
fn align(input: &Path, output: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec!["align".into(), "--json".into()];
    args.push(input.as_os_str().to_owned());
    args.push(output.as_os_str().to_owned());
    args.extend(extra.iter().map(OsString::from));
    facenet(args)
}

// ---------------------------------------------------------------------------------------------
// Data

/// The shared data directory; `None`, with a loud message, when absent.
fn shared(test: &str) -> Option<PathBuf> {
    let shared = std::env::var_os("FACENET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let probe = shared.join("data/lfw/images").join(CHO);
    if probe.is_file() {
        Some(shared)
    } else {
        eprintln!(
            "\n!!!!! SKIPPED {test}: {} not found (set FACENET_SHARED) !!!!!\n",
            probe.display()
        );
        None
    }
}

fn lfw(shared: &Path, rel: &str) -> PathBuf {
    shared.join("data/lfw/images").join(rel)
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

fn stem(rel: &str) -> &str {
    let name = file_name(rel);
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// [`TREE`] plus, in the first class, an empty `broken.jpg`, an all-black `black.png`, a
/// `notes.txt` and a hidden `.hidden.jpg`.
fn build_tree(shared: &Path, root: &Path) {
    for (class, files) in TREE {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for rel in *files {
            std::fs::copy(lfw(shared, rel), dir.join(file_name(rel))).expect("copy photo");
        }
    }
    let first = root.join(TREE[0].0);
    std::fs::write(first.join("broken.jpg"), b"").expect("write broken.jpg");
    let mut black = Vec::new();
    image::codecs::png::PngEncoder::new(&mut black)
        .write_image(
            RgbImage::new(250, 250).as_raw(),
            250,
            250,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode png");
    std::fs::write(first.join("black.png"), black).expect("write black.png");
    std::fs::write(first.join("notes.txt"), b"not a photo\n").expect("write notes.txt");
    std::fs::copy(lfw(shared, CHO), first.join(".hidden.jpg")).expect("copy hidden");
}

/// Pixels exactly as the pipeline decodes them.
fn load(path: &Path) -> RgbImage {
    decode_path(path, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .image
}

/// A PNG of `size`×`size`, checked by its signature as well as by decoding.
#[track_caller]
fn assert_png(path: &Path, size: u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(
        load(path).dimensions(),
        (size, size),
        "{} size",
        path.display()
    );
}

fn boxes(output: &Path) -> Vec<String> {
    std::fs::read_to_string(output.join("bounding_boxes.txt"))
        .expect("bounding_boxes.txt")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The `bounding_boxes.txt` line of a crop: its box, checked to start with the crop's path.
#[track_caller]
fn box_of(lines: &[String], png: &Path) -> [u32; 4] {
    let prefix = format!("{} ", png.display());
    let hits: Vec<&String> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(hits.len(), 1, "one line for {}: {lines:#?}", png.display());
    let nums: Vec<u32> = hits[0][prefix.len()..]
        .split(' ')
        .map(|n| n.parse().unwrap_or_else(|e| panic!("{}: {e}", hits[0])))
        .collect();
    nums.try_into()
        .unwrap_or_else(|n| panic!("4 numbers in {:?}: {n:?}", hits[0]))
}

/// The reference run's entry for an LFW photo: (crop PNG, crop box), when it has one.
fn reference(shared: &Path, rel: &str) -> Option<(PathBuf, [u32; 4])> {
    let dir = shared.join("reference/aligned");
    let json: Value = serde_json::from_slice(
        &std::fs::read(dir.join("embeddings.json")).expect("reference embeddings.json"),
    )
    .expect("reference JSON");
    let want = format!("data/lfw/images/{rel}");
    let item = json["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["path"] == want.as_str())?;
    let png = item["aligned_png"].as_str().expect("aligned_png");
    let bb: Vec<u32> = item["crop_bb"]
        .as_array()
        .expect("crop_bb")
        .iter()
        .map(|v| v.as_u64().expect("crop_bb value") as u32)
        .collect();
    Some((
        shared.join("reference").join(png),
        bb.try_into().expect("4 values"),
    ))
}

fn paths(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|p| {
            let reason = p["reason"].as_str().unwrap_or_default();
            assert!(!reason.is_empty(), "no reason in {p}");
            p["path"].as_str().expect("path").to_owned()
        })
        .collect()
}

/// Nothing but `.png` crops in the class directories: no temporary or hidden files left over.
#[track_caller]
fn assert_only_pngs(output: &Path) {
    for class in std::fs::read_dir(output).expect("output dir") {
        let class = class.expect("entry").path();
        if !class.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&class).expect("class dir") {
            let name = f.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(
                name.ends_with(".png") && !name.starts_with('.'),
                "unexpected {name} in {}",
                class.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn aligns_a_tree_then_resumes() {
    let Some(shared) = shared("aligns_a_tree_then_resumes") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    build_tree(&shared, &input);

    let run = align(&input, &output, &["--jobs", "2"]);
    run.expect_code(BAD_INPUT);
    let s = run.json();
    let first = input.join(TREE[0].0);
    assert_eq!(s["images"], PHOTOS + 3, "{s}");
    assert_eq!(s["aligned"], PHOTOS, "{s}");
    assert_eq!(s["skipped_existing"], 0, "{s}");
    assert_eq!(
        paths(&s["no_face"]),
        [first.join("black.png").display().to_string()]
    );
    assert_eq!(
        paths(&s["unreadable"]),
        [
            first.join("broken.jpg").display().to_string(),
            first.join("notes.txt").display().to_string()
        ]
    );
    assert!(s["seconds"].as_f64().is_some_and(|t| t > 0.0), "{s}");
    eprintln!(
        "align: {} photos + 3 failures in {:.2} s ({:.1} images/s, model load included)",
        PHOTOS,
        s["seconds"].as_f64().unwrap_or_default(),
        (PHOTOS + 3) as f64 / s["seconds"].as_f64().unwrap_or(f64::NAN)
    );

    // Every crop, its line, in input order; and the reference crops pixel for pixel.
    let lines = boxes(&output);
    assert_eq!(lines.len(), PHOTOS, "{lines:#?}");
    let mut order = Vec::new();
    let mut compared = 0;
    for (class, files) in TREE {
        for rel in *files {
            let png = output.join(class).join(format!("{}.png", stem(rel)));
            assert_png(&png, 160);
            let bb = box_of(&lines, &png);
            order.push(format!("{} ", png.display()));
            if let Some((ref_png, ref_bb)) = reference(&shared, rel) {
                assert_eq!(bb, ref_bb, "{rel}: crop box");
                assert!(
                    load(&png) == load(&ref_png),
                    "{rel}: crop differs from {}",
                    ref_png.display()
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 3, "reference crops compared");
    for (line, prefix) in lines.iter().zip(&order) {
        assert!(
            line.starts_with(prefix),
            "{line:?} out of order: {lines:#?}"
        );
    }
    let cho = output.join(TREE[0].0).join("Cho_Myung-kyun_0001.png");
    assert_eq!(box_of(&lines, &cho), [61, 51, 184, 199]);
    assert!(
        lines
            .iter()
            .any(|l| *l == format!("{} 61 51 184 199", cho.display())),
        "{lines:#?}"
    );
    assert!(!output.join(TREE[0].0).join("hidden.png").exists());
    assert!(!output.join(TREE[0].0).join(".hidden.png").exists());
    assert!(!output.join(TREE[0].0).join("black.png").exists());
    assert_only_pngs(&output);

    // Again: everything is there already; the failures are still reported.
    let run = align(&input, &output, &[]);
    run.expect_code(BAD_INPUT);
    let s = run.json();
    assert_eq!(s["aligned"], 0, "{s}");
    assert_eq!(s["skipped_existing"], PHOTOS, "{s}");
    assert_eq!(paths(&s["no_face"]).len(), 1, "{s}");
    assert_eq!(paths(&s["unreadable"]).len(), 2, "{s}");
    assert_eq!(boxes(&output), lines, "bounding_boxes.txt changed");

    // A crop lost (as if the run had stopped before it) is redone, and only that one.
    let lost = output.join("Colin_Farrell/Colin_Farrell_0002.png");
    let before = std::fs::read(&lost).expect("crop");
    std::fs::remove_file(&lost).expect("remove crop");
    let run = align(&input, &output, &[]);
    run.expect_code(BAD_INPUT);
    let s = run.json();
    assert_eq!(s["aligned"], 1, "{s}");
    assert_eq!(s["skipped_existing"], PHOTOS - 1, "{s}");
    assert_eq!(std::fs::read(&lost).expect("crop redone"), before);
    let after = boxes(&output);
    assert_eq!(after.len(), PHOTOS + 1, "{after:#?}");
    assert!(after[PHOTOS].starts_with(&format!("{} ", lost.display())));
}

#[test]
fn multiple_faces_are_numbered() {
    let Some(shared) = shared("multiple_faces_are_numbered") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    let class = input.join("group");
    std::fs::create_dir_all(&class).expect("mkdir");
    std::fs::copy(lfw(&shared, CHO), class.join("cho.jpg")).expect("copy");

    let run = align(&input, &output, &["--detect-multiple-faces"]);
    run.expect_code(OK);
    let s = run.json();
    assert_eq!(s["images"], 1, "{s}");
    assert_eq!(s["aligned"], 1, "{s}");
    let lines = boxes(&output);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for i in 0..3 {
        let png = output.join(format!("group/cho_{i}.png"));
        assert_png(&png, 160);
        box_of(&lines, &png);
    }
    assert!(!output.join("group/cho.png").exists());
    assert!(!output.join("group/cho_3.png").exists());
    assert_only_pngs(&output);

    // Resuming looks for `_0`.
    let s = align(&input, &output, &["--detect-multiple-faces"])
        .expect_code(OK)
        .json();
    assert_eq!(s["skipped_existing"], 1, "{s}");
    assert_eq!(boxes(&output).len(), 3);
}

#[test]
fn image_size_and_margin_are_the_users() {
    let Some(shared) = shared("image_size_and_margin_are_the_users") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    let class = input.join("Cho_Myung-kyun");
    std::fs::create_dir_all(&class).expect("mkdir");
    std::fs::copy(lfw(&shared, CHO), class.join("Cho_Myung-kyun_0001.jpg")).expect("copy");

    let run = align(&input, &output, &["--image-size", "100", "--margin", "0"]);
    run.expect_code(OK);
    let png = output.join("Cho_Myung-kyun/Cho_Myung-kyun_0001.png");
    assert_png(&png, 100);
    // The detector's box (77.6, 67.9, 168.2, 183.4), truncated, without the default 32 px margin.
    assert_eq!(box_of(&boxes(&output), &png), [77, 67, 168, 183]);
}

#[test]
fn output_equal_to_input_is_refused_and_control_characters_are_listed() {
    let Some(shared) = shared("align input checks") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let class = input.join("Cho");
    std::fs::create_dir_all(&class).unwrap();
    std::fs::copy(lfw(&shared, CHO), class.join("a.jpg")).unwrap();
    // The photos would pass for their own crops.
    let run = align(&input, &input, &[]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("is the input directory"),
        "{}",
        run.stderr
    );

    // A newline in a name could forge a bounding_boxes.txt record.
    std::fs::copy(lfw(&shared, CHO), class.join("x\nfake 1 2 3 4.jpg")).unwrap();
    let out = tmp.path().join("out");
    let run = align(&input, &out, &[]);
    run.expect_code(BAD_INPUT);
    let v = run.json();
    assert_eq!(v["aligned"], 1);
    let bad = v["unreadable"].as_array().unwrap();
    assert_eq!(bad.len(), 1);
    assert!(bad[0]["reason"]
        .as_str()
        .unwrap()
        .contains("control character"));
    assert_eq!(boxes(&out).len(), 1);
}
