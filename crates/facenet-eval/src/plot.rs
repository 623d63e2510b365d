//! ROC plot of a [`Report`](crate::Report).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{Distance, Error, Report, Result};

const SIZE: (u32, u32) = (640, 640);

/// Writes the ROC curve (fold-averaged TPR against FPR over the threshold grid), the chance
/// diagonal and the EER point to `path`, as PNG or SVG by its extension.
///
/// The SVG has a title with accuracy, AUC and EER, axis labels and a legend; its text is SVG
/// `<text>`, so no font is needed to write it. The PNG has the same curve, grid and frame but
/// **no text**: plotters rasterises text only with a font backend (`ttf` or `ab_glyph`), which
/// this crate leaves out so that it needs no system fonts.
pub fn roc_plot(report: &Report, path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => write_svg(report, path),
        Some("png") => write_png(report, path),
        _ => Err(Error::Plot(format!(
            "{}: unsupported extension (use .png or .svg)",
            path.display()
        ))),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_svg(report: &Report, path: &Path) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, report, true).map_err(|e| Error::Plot(e.to_string()))?;
        root.present().map_err(|e| Error::Plot(e.to_string()))?;
    }
    std::fs::write(path, svg).map_err(io_err(path))
}

fn write_png(report: &Report, path: &Path) -> Result<()> {
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root, report, false).map_err(|e| Error::Plot(e.to_string()))?;
        root.present().map_err(|e| Error::Plot(e.to_string()))?;
    }
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let png_err = |e: png::EncodingError| Error::Plot(format!("{}: {e}", path.display()));
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(&rgb).map_err(png_err)?;
    writer.finish().map_err(png_err)
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &Report,
    text: bool,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(root);
    builder.margin(24);
    if text {
        let metric = match r.distance {
            Distance::SquaredL2 => "squared L2",
            Distance::Angular => "angular",
        };
        let eer = r
            .eer
            .map_or_else(|| "n/a".to_string(), |e| format!("{e:.4}"));
        builder
            .caption(
                format!(
                    "ROC, {} pairs, {}-fold, {metric}{}: accuracy {:.5} ± {:.5}, AUC {:.4}, EER {eer}",
                    r.pairs,
                    r.folds,
                    if r.subtract_mean { ", mean subtracted" } else { "" },
                    r.accuracy_mean,
                    r.accuracy_std,
                    r.auc,
                ),
                ("sans-serif", 18),
            )
            .x_label_area_size(45)
            .y_label_area_size(55);
    }
    let mut chart = builder.build_cartesian_2d(0f64..1f64, 0f64..1f64)?;

    let grid = RGBColor(225, 225, 225);
    if text {
        chart
            .configure_mesh()
            .x_labels(11)
            .y_labels(11)
            .x_desc("False positive rate")
            .y_desc("True positive rate")
            .max_light_lines(0)
            .bold_line_style(grid)
            .draw()?;
    } else {
        for i in 0..=10 {
            let v = f64::from(i) / 10.0;
            chart.draw_series(LineSeries::new([(v, 0.0), (v, 1.0)], grid))?;
            chart.draw_series(LineSeries::new([(0.0, v), (1.0, v)], grid))?;
        }
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)],
            BLACK,
        ))?;
    }

    let diag = chart.draw_series(LineSeries::new(
        [(0.0, 0.0), (1.0, 1.0)],
        RGBColor(160, 160, 160),
    ))?;
    if text {
        diag.label("chance")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(160, 160, 160)));
    }
    let curve_color = RGBColor(31, 119, 180);
    let points: Vec<(f64, f64)> = r
        .fpr
        .iter()
        .zip(&r.tpr)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(&x, &y)| (x, y))
        .collect();
    let curve = chart.draw_series(LineSeries::new(points, curve_color.stroke_width(2)))?;
    if text {
        curve
            .label(format!("ROC (AUC {:.4})", r.auc))
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], curve_color.stroke_width(2))
            });
    }
    if let Some(e) = r.eer {
        let red = RGBColor(214, 39, 40);
        let p = chart.draw_series([Circle::new((e, 1.0 - e), 5, red.filled())])?;
        if text {
            p.label(format!("EER {e:.4}"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, red.filled()));
        }
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}
