//! The training curves: loss per step, and LFW accuracy where it was measured, as PNG (no text:
//! the bitmap backend has no font, as in facenet-eval's ROC plot) or SVG (with axis labels).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{io_err, Error, Result};
use crate::train::LogRow;

const SIZE: (u32, u32) = (960, 480);

pub fn training_plot(rows: &[LogRow], path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let perr = |e: String| Error::Plot(format!("{}: {e}", path.display()));
    match ext.as_deref() {
        Some("svg") => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root, rows, true).map_err(|e| perr(e.to_string()))?;
                root.present().map_err(|e| perr(e.to_string()))?;
            }
            std::fs::write(path, svg).map_err(io_err(path))
        }
        Some("png") => {
            let (w, h) = SIZE;
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
                draw(&root, rows, false).map_err(|e| perr(e.to_string()))?;
                root.present().map_err(|e| perr(e.to_string()))?;
            }
            let file = std::fs::File::create(path).map_err(io_err(path))?;
            let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().map_err(|e| perr(e.to_string()))?;
            wr.write_image_data(&rgb).map_err(|e| perr(e.to_string()))?;
            wr.finish().map_err(|e| perr(e.to_string()))
        }
        _ => Err(perr("unsupported extension (use .png or .svg)".into())),
    }
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[LogRow],
    text: bool,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let max_step = rows.iter().map(|r| r.step).max().unwrap_or(1).max(1) as f64;
    let loss: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.loss.map(|l| (r.step as f64, l)))
        .collect();
    let val: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.val_loss.map(|l| (r.step as f64, l)))
        .collect();
    let acc: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.lfw_accuracy.map(|a| (r.step as f64, a)))
        .collect();
    let max_loss = loss.iter().chain(&val).map(|p| p.1).fold(1e-6f64, f64::max) * 1.05;
    panel(
        &left,
        "loss",
        (0.0, max_step),
        (0.0, max_loss),
        &[
            (&loss, RGBColor(31, 119, 180)),
            (&val, RGBColor(255, 127, 14)),
        ],
        text,
    )?;
    let lo = acc.iter().map(|p| p.1).fold(1.0f64, f64::min).min(0.9);
    panel(
        &right,
        "LFW accuracy",
        (0.0, max_step),
        (lo, 1.0),
        &[(&acc, RGBColor(44, 160, 44))],
        text,
    )
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x: (f64, f64),
    y: (f64, f64),
    series: &[(&Vec<(f64, f64)>, RGBColor)],
    text: bool,
) -> DrawResult<DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(20);
    if text {
        b.caption(title, ("sans-serif", 18))
            .x_label_area_size(35)
            .y_label_area_size(50);
    }
    let mut chart = b.build_cartesian_2d(x.0..x.1, y.0..y.1)?;
    if text {
        chart.configure_mesh().x_desc("step").draw()?;
    } else {
        chart.draw_series(LineSeries::new(
            [(x.0, y.0), (x.1, y.0), (x.1, y.1), (x.0, y.1), (x.0, y.0)],
            BLACK,
        ))?;
    }
    for (pts, color) in series {
        chart.draw_series(LineSeries::new(pts.iter().copied(), *color))?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    Ok(())
}
