//! `roc_plot` writes a PNG (no text, no font needed) and an SVG (with text).

use facenet_eval::{evaluate_distances, roc_plot, Error, EvalOptions};

fn report() -> facenet_eval::Report {
    // 40 pairs, alternating labels, overlapping distance ranges: a curve with a few steps.
    let issame: Vec<bool> = (0..40).map(|i| i % 2 == 0).collect();
    let dist: Vec<f64> = (0..40)
        .map(|i| {
            let base = if i % 2 == 0 { 0.6 } else { 1.2 };
            base + 0.0371 * ((i * 7 % 13) as f64 - 6.0)
        })
        .collect();
    evaluate_distances(&dist, &issame, &EvalOptions::default()).unwrap()
}

#[test]
fn writes_png_and_svg() {
    let r = report();
    assert!(r.eer.is_some());
    let dir = std::env::temp_dir().join(format!("facenet-eval-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let png = dir.join("roc.png");
    roc_plot(&r, &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() > 1000, "{} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: 640 x 640, 8-bit RGB.
    assert_eq!(&bytes[12..16], b"IHDR");
    assert_eq!(
        u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
        640
    );
    assert_eq!(
        u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
        640
    );
    assert_eq!((bytes[24], bytes[25]), (8, 2));

    let svg_path = dir.join("ROC.SVG");
    roc_plot(&r, &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(100)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("False positive rate"));
    assert!(svg.contains("<polyline"));
    assert!(svg.contains(&format!("AUC {:.4}", r.auc)));

    let e = roc_plot(&r, &dir.join("roc.pdf")).unwrap_err();
    assert!(matches!(e, Error::Plot(_)), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
