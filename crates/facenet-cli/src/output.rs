//! The JSON shapes of `detect`, `embed` and `compare`, and their plain-text forms.

use std::fmt::Write as _;

use serde::Serialize;

// Writing to a String cannot fail.
macro_rules! line {
    ($s:expr, $($arg:tt)*) => {{ let _ = writeln!($s, $($arg)*); }};
}
macro_rules! part {
    ($s:expr, $($arg:tt)*) => {{ let _ = write!($s, $($arg)*); }};
}

use facenet_core::Face;

#[derive(Serialize)]
pub struct FaceOut {
    /// Clipped to the image.
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
    /// The detector's own box, which may reach outside the image (what the original returns).
    pub raw_box: [f64; 4],
    pub score: f64,
    pub landmarks: [[f64; 2]; 5],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

impl FaceOut {
    pub fn new(face: &Face, embedding: Option<Vec<f32>>) -> Self {
        FaceOut {
            bbox: face.bbox.map(round2),
            raw_box: face.raw_bbox.map(round2),
            score: face.score,
            landmarks: face.landmarks.map(|p| p.map(round2)),
            embedding,
        }
    }
}

/// Hundredths of a pixel are below the detector's precision; shorter JSON reads better.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[derive(Serialize)]
pub struct ErrorOut {
    pub code: String,
    pub message: String,
}

#[derive(Serialize)]
pub struct ImageOut {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// EXIF orientation applied while decoding (1 = none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orientation: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<FaceOut>>,
    /// For `compare`: which face of `faces` was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorOut>,
}

impl ImageOut {
    pub fn failed(path: String, code: &str, message: String) -> Self {
        ImageOut {
            path,
            width: None,
            height: None,
            orientation: None,
            faces: None,
            selected: None,
            error: Some(ErrorOut {
                code: code.to_string(),
                message,
            }),
        }
    }
}

#[derive(Serialize)]
pub struct ImagesOut {
    pub images: Vec<ImageOut>,
}

#[derive(Serialize)]
pub struct CompareOut {
    pub images: Vec<ImageOut>,
    pub metric: &'static str,
    pub threshold: f32,
    /// `null` where either image has no usable face.
    pub distances: Vec<Vec<Option<f32>>>,
    pub same: Vec<Vec<Option<bool>>>,
}

pub fn images_text(out: &ImagesOut, with_embeddings: bool) -> String {
    let mut s = String::new();
    for img in &out.images {
        if let Some(e) = &img.error {
            line!(s, "{}: error [{}] {}", img.path, e.code, e.message);
            continue;
        }
        let faces = img.faces.as_deref().unwrap_or_default();
        line!(
            s,
            "{}: {}x{}, {} face{}",
            img.path,
            img.width.unwrap_or(0),
            img.height.unwrap_or(0),
            faces.len(),
            if faces.len() == 1 { "" } else { "s" }
        );
        for (i, f) in faces.iter().enumerate() {
            let b = f.bbox;
            part!(
                s,
                "  face {i}: box [{:.1}, {:.1}, {:.1}, {:.1}] score {:.4}",
                b[0],
                b[1],
                b[2],
                b[3],
                f.score
            );
            if let (true, Some(e)) = (with_embeddings, &f.embedding) {
                let head: Vec<String> = e.iter().take(4).map(|v| format!("{v:.4}")).collect();
                part!(s, " embedding [{}, ...] ({}-d)", head.join(", "), e.len());
            }
            s.push('\n');
        }
    }
    s
}

pub fn compare_text(out: &CompareOut) -> String {
    let mut s = String::new();
    line!(s, "Images:");
    for (i, img) in out.images.iter().enumerate() {
        match &img.error {
            Some(e) => line!(s, "{i}: {} (error [{}] {})", img.path, e.code, e.message),
            None => line!(s, "{i}: {}", img.path),
        }
    }
    s.push('\n');
    line!(
        s,
        "Distance matrix ({}, threshold {}):",
        out.metric,
        out.threshold
    );
    part!(s, "    ");
    for j in 0..out.images.len() {
        part!(s, "{j:>10}");
    }
    s.push('\n');
    for (i, row) in out.distances.iter().enumerate() {
        part!(s, "{i:>4}");
        for d in row {
            match d {
                Some(d) => part!(s, "{d:>10.4}"),
                None => part!(s, "{:>10}", "-"),
            }
        }
        s.push('\n');
    }
    s.push('\n');
    for i in 0..out.images.len() {
        for j in i + 1..out.images.len() {
            let verdict = match out.same[i][j] {
                Some(true) => "same person",
                Some(false) => "different people",
                None => "no face to compare",
            };
            let d = out.distances[i][j].map_or("-".to_string(), |d| format!("{d:.4}"));
            line!(s, "{i} vs {j}: {verdict} (distance {d})");
        }
    }
    s
}
