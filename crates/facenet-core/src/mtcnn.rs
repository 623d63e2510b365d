//! MTCNN (Zhang et al. 2016) exactly as David Sandberg's `detect_face.py` runs it.
//!
//! Every quirk of the original that moves a box is kept on purpose, because the embeddings
//! downstream are only comparable with the published model's when the crops are the same:
//! Caffe's (W,H) input transposition, the uint8 pyramid, `np.fix`, 1-based `pad`, the flipped
//! regression maps when a scale has exactly one candidate, Union then Min NMS, and landmarks
//! taken from the O-Net input box before its regression. Boxes come back unclipped, as there.

use std::path::Path;

use image::RgbImage;

use crate::engine::{Net, Output};
use crate::error::{Error, Result};
use crate::resize::{resize_area, Plane};

/// Detector settings; the defaults are the original's.
#[derive(Debug, Clone)]
pub struct MtcnnConfig {
    pub min_size: f64,
    pub factor: f64,
    pub thresholds: [f32; 3],
    /// Candidates kept per stage, best first, so a 4K photo cannot exhaust memory. The original
    /// has no cap; real photos stay far below it.
    pub max_candidates: usize,
    /// ONNX Runtime threads per network session.
    pub threads: usize,
    /// Sessions per network, so that this many images can be detected at once.
    pub copies: usize,
}

impl Default for MtcnnConfig {
    fn default() -> Self {
        MtcnnConfig {
            min_size: 20.0,
            factor: 0.709,
            thresholds: [0.6, 0.7, 0.7],
            max_candidates: 5000,
            threads: 1,
            copies: 1,
        }
    }
}

/// One face as the detector returns it: float box `[x1, y1, x2, y2]` in image pixels (may reach
/// outside the image), O-Net probability, and five landmarks (eyes, nose, mouth corners).
#[derive(Debug, Clone, PartialEq)]
pub struct RawFace {
    pub bbox: [f64; 4],
    pub score: f64,
    pub landmarks: [[f64; 2]; 5],
}

/// Intermediate results, for comparing with the reference's debug fields.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub scales: Vec<f64>,
    pub pnet_input_hw: Vec<[usize; 2]>,
    /// R-Net inputs: `[x1, y1, x2, y2, pnet_score]`.
    pub stage1: Vec<[f64; 5]>,
    /// O-Net inputs.
    pub stage2: Vec<[f64; 4]>,
    /// Wall time of P-Net (pyramid included), R-Net and O-Net stages.
    pub seconds: [f64; 3],
}

pub struct Mtcnn {
    pnet: Net,
    rnet: Net,
    onet: Net,
    pub config: MtcnnConfig,
}

const PNET_INPUT: &str = "input_1";
const PNET_OUTPUTS: [&str; 2] = ["conv2d_4", "softmax"];
const RNET_INPUT: &str = "input_2";
const RNET_OUTPUTS: [&str; 2] = ["dense_2", "softmax_1"];
const ONET_INPUT: &str = "input_3";
const ONET_OUTPUTS: [&str; 3] = ["dense_5", "dense_6", "softmax_2"];
/// Crops per R-/O-Net run; bounds the input tensor, not the result.
const REFINE_BATCH: usize = 256;

/// A candidate box with its score and pending regression, as the original's 9-column rows.
#[derive(Debug, Clone, Copy)]
struct Cand {
    b: [f64; 4],
    score: f64,
    reg: [f64; 4],
}

impl Mtcnn {
    pub fn load(pnet: &Path, rnet: &Path, onet: &Path, config: MtcnnConfig) -> Result<Self> {
        let (t, c) = (config.threads, config.copies);
        Ok(Mtcnn {
            pnet: Net::open(pnet, t, c)?,
            rnet: Net::open(rnet, t, c)?,
            onet: Net::open(onet, t, c)?,
            config,
        })
    }

    pub fn detect(&self, img: &RgbImage) -> Result<Vec<RawFace>> {
        self.detect_traced(img, &mut Trace::default())
    }

    pub fn detect_traced(&self, img: &RgbImage, trace: &mut Trace) -> Result<Vec<RawFace>> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let plane = Plane {
            width: w,
            height: h,
            data: img.as_raw().as_slice().into(),
        };
        let t0 = std::time::Instant::now();
        trace.scales = pyramid(w, h, self.config.min_size, self.config.factor);
        let mut cands = Vec::new();
        for &scale in &trace.scales.clone() {
            let hs = (h as f64 * scale).ceil() as usize;
            let ws = (w as f64 * scale).ceil() as usize;
            trace.pnet_input_hw.push([hs, ws]);
            let mut found = self.stage1_scale(&plane, ws, hs, scale)?;
            // NMS compares candidates pairwise: an image tiled with face-like patches must not
            // make it quadratic in the hits.
            cap(&mut found, self.config.max_candidates);
            let keep = nms(&found, 0.5, Overlap::Union);
            cands.extend(keep.into_iter().map(|i| found[i]));
            cap(&mut cands, self.config.max_candidates);
        }
        if cands.is_empty() {
            return Ok(Vec::new());
        }
        let keep = nms(&cands, 0.7, Overlap::Union);
        let mut boxes: Vec<Cand> = keep
            .into_iter()
            .map(|i| {
                let c = cands[i];
                let rw = c.b[2] - c.b[0];
                let rh = c.b[3] - c.b[1];
                let b = [
                    c.b[0] + c.reg[0] * rw,
                    c.b[1] + c.reg[1] * rh,
                    c.b[2] + c.reg[2] * rw,
                    c.b[3] + c.reg[3] * rh,
                ];
                Cand {
                    b: fix4(rerec(b)),
                    score: c.score,
                    reg: [0.0; 4],
                }
            })
            .collect();
        trace.stage1 = boxes
            .iter()
            .map(|c| [c.b[0], c.b[1], c.b[2], c.b[3], c.score])
            .collect();
        trace.seconds[0] = t0.elapsed().as_secs_f64();

        let t1 = std::time::Instant::now();
        boxes = self.stage2(&plane, &boxes)?;
        trace.seconds[1] = t1.elapsed().as_secs_f64();
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        for c in &mut boxes {
            c.b = fix4(c.b);
        }
        trace.stage2 = boxes.iter().map(|c| c.b).collect();
        let t2 = std::time::Instant::now();
        let faces = self.stage3(&plane, &boxes);
        trace.seconds[2] = t2.elapsed().as_secs_f64();
        faces
    }

    /// P-Net on one pyramid level; returns candidates in the original's `np.where` order.
    ///
    /// Large levels run in strips along x (the tensor's outer axis) that overlap by P-Net's
    /// receptive field, so memory stays bounded on 4K photos while every grid cell sees exactly
    /// the pixels it sees in one whole-level run.
    fn stage1_scale(
        &self,
        img: &Plane<'_, u8>,
        ws: usize,
        hs: usize,
        scale: f64,
    ) -> Result<Vec<Cand>> {
        let small = resize_area(img, ws, hs);
        let t = self.config.thresholds[0];
        let mut hits: Vec<(usize, usize, f32, [f32; 4])> = Vec::new();
        let mut gw = 0;
        for (x0, x1) in pnet_strips(ws, hs) {
            let (reg, prob) = self.pnet_strip(&small, x0, x1)?;
            let (sw, gh) = (prob.shape[1], prob.shape[2]);
            for lx in 0..sw {
                for gy in 0..gh {
                    let cell = lx * gh + gy;
                    let p = prob.data[cell * 2 + 1];
                    if p >= t {
                        let r = &reg.data[cell * 4..cell * 4 + 4];
                        hits.push((x0 / 2 + lx, gy, p, [r[0], r[1], r[2], r[3]]));
                    }
                }
            }
            gw = x0 / 2 + sw;
        }
        // The original flips the regression maps upside down when a level has exactly one hit,
        // so that hit takes its regression from the mirrored row.
        if let [(gx, gy, _, r)] = hits.as_mut_slice() {
            *r = self.pnet_reg_at(&small, gw - 1 - *gx, *gy)?;
        }
        Ok(hits
            .into_iter()
            .map(|(gx, gy, p, r)| {
                let (bx, by) = (gx as f64, gy as f64);
                Cand {
                    b: [
                        ((2.0 * bx + 1.0) / scale).trunc(),
                        ((2.0 * by + 1.0) / scale).trunc(),
                        ((2.0 * bx + 12.0) / scale).trunc(),
                        ((2.0 * by + 12.0) / scale).trunc(),
                    ],
                    score: f64::from(p),
                    reg: r.map(f64::from),
                }
            })
            .collect())
    }

    /// P-Net over columns `x0..x1` of a pyramid level: regression and probability grids.
    fn pnet_strip(&self, small: &Plane<'_, u8>, x0: usize, x1: usize) -> Result<(Output, Output)> {
        let hs = small.height;
        // Caffe layout: the network sees x before y.
        let mut input = Vec::with_capacity((x1 - x0) * hs * 3);
        for x in x0..x1 {
            for y in 0..hs {
                let px = &small.data[(y * small.width + x) * 3..(y * small.width + x) * 3 + 3];
                input.extend(
                    px.iter()
                        .map(|&v| ((f64::from(v) - 127.5) * 0.0078125) as f32),
                );
            }
        }
        let mut out = self
            .pnet
            .run(PNET_INPUT, &[1, x1 - x0, hs, 3], &input, &PNET_OUTPUTS)?;
        let prob = out.pop();
        let reg = out.pop();
        match (reg, prob) {
            (Some(reg), Some(prob)) if prob.shape.len() == 4 && reg.shape.len() == 4 => {
                Ok((reg, prob))
            }
            _ => Err(Error::Runtime("P-Net returned unexpected outputs".into())),
        }
    }

    /// The regression P-Net gives at one grid cell of a level.
    fn pnet_reg_at(&self, small: &Plane<'_, u8>, gx: usize, gy: usize) -> Result<[f32; 4]> {
        for (x0, x1) in pnet_strips(small.width, small.height) {
            let rows = pnet_rows(x1 - x0);
            if gx >= x0 / 2 && gx < x0 / 2 + rows {
                let (reg, prob) = self.pnet_strip(small, x0, x1)?;
                let cell = (gx - x0 / 2) * prob.shape[2] + gy;
                if let Some(r) = reg.data.get(cell * 4..cell * 4 + 4) {
                    return Ok([r[0], r[1], r[2], r[3]]);
                }
            }
        }
        Err(Error::Runtime(format!(
            "P-Net grid has no cell ({gx}, {gy})"
        )))
    }

    /// R-Net: refine, threshold, NMS, regress, square.
    fn stage2(&self, img: &Plane<'_, u8>, boxes: &[Cand]) -> Result<Vec<Cand>> {
        let crops = crops(img, boxes, 24);
        let mut passed = Vec::new();
        for (chunk_i, chunk) in crops.chunks(REFINE_BATCH * 24 * 24 * 3).enumerate() {
            let n = chunk.len() / (24 * 24 * 3);
            let out = self
                .rnet
                .run(RNET_INPUT, &[n, 24, 24, 3], chunk, &RNET_OUTPUTS)?;
            for k in 0..n {
                let score = out[1].data[k * 2 + 1];
                if score > self.config.thresholds[1] {
                    let c = boxes[chunk_i * REFINE_BATCH + k];
                    let r = &out[0].data[k * 4..k * 4 + 4];
                    passed.push(Cand {
                        b: c.b,
                        score: f64::from(score),
                        reg: [r[0], r[1], r[2], r[3]].map(f64::from),
                    });
                }
            }
        }
        let keep = nms(&passed, 0.7, Overlap::Union);
        Ok(keep
            .into_iter()
            .map(|i| {
                let c = passed[i];
                Cand {
                    b: rerec(bbreg(c.b, c.reg)),
                    score: c.score,
                    reg: [0.0; 4],
                }
            })
            .collect())
    }

    /// O-Net: final scores, landmarks from the unregressed box, regression, Min NMS.
    fn stage3(&self, img: &Plane<'_, u8>, boxes: &[Cand]) -> Result<Vec<RawFace>> {
        let crops = crops(img, boxes, 48);
        let mut passed = Vec::new();
        let mut faces = Vec::new();
        for (chunk_i, chunk) in crops.chunks(REFINE_BATCH * 48 * 48 * 3).enumerate() {
            let n = chunk.len() / (48 * 48 * 3);
            let out = self
                .onet
                .run(ONET_INPUT, &[n, 48, 48, 3], chunk, &ONET_OUTPUTS)?;
            for k in 0..n {
                let score = out[2].data[k * 2 + 1];
                if score <= self.config.thresholds[2] {
                    continue;
                }
                let c = boxes[chunk_i * REFINE_BATCH + k];
                let r = &out[0].data[k * 4..k * 4 + 4];
                let p = &out[1].data[k * 10..k * 10 + 10];
                let bw = c.b[2] - c.b[0] + 1.0;
                let bh = c.b[3] - c.b[1] + 1.0;
                let mut landmarks = [[0.0; 2]; 5];
                for (j, lm) in landmarks.iter_mut().enumerate() {
                    lm[0] = bw * f64::from(p[j]) + c.b[0] - 1.0;
                    lm[1] = bh * f64::from(p[j + 5]) + c.b[1] - 1.0;
                }
                let reg = [r[0], r[1], r[2], r[3]].map(f64::from);
                passed.push(Cand {
                    b: bbreg(c.b, reg),
                    score: f64::from(score),
                    reg: [0.0; 4],
                });
                faces.push(landmarks);
            }
        }
        let keep = nms(&passed, 0.7, Overlap::Min);
        Ok(keep
            .into_iter()
            .map(|i| RawFace {
                bbox: passed[i].b,
                score: passed[i].score,
                landmarks: faces[i],
            })
            .collect())
    }
}

/// Pixels of one P-Net run; larger pyramid levels are cut into strips.
const PNET_STRIP_PIXELS: usize = 512 * 512;

/// Output rows of P-Net for an input `w` wide: 3x3 conv, 2x2/2 max-pool (TF SAME), two 3x3 convs.
fn pnet_rows(w: usize) -> usize {
    (w.saturating_sub(2)).div_ceil(2).saturating_sub(4)
}

/// Column ranges covering a level. Each strip but the last has an even width so that no pooling
/// padding is added inside the level, and the next strip starts 10 columns before its end, so
/// that output rows continue without a gap or an overlap.
fn pnet_strips(ws: usize, hs: usize) -> Vec<(usize, usize)> {
    let width = (PNET_STRIP_PIXELS / hs.max(1)).max(32) & !1;
    let mut strips = Vec::new();
    let mut x0 = 0;
    while ws - x0 > width {
        strips.push((x0, x0 + width));
        x0 += width - 10;
    }
    strips.push((x0, ws));
    strips
}

const MAX_LEVELS: i32 = 64;

/// Pyramid scales: `m * factor^k` while the shorter side stays at least 12 px.
pub fn pyramid(w: usize, h: usize, min_size: f64, factor: f64) -> Vec<f64> {
    let m = 12.0 / min_size;
    let mut minl = w.min(h) as f64 * m;
    let mut scales = Vec::new();
    let mut k = 0i32;
    // A factor of 0.709 gives 17 levels for a 10000 px side; the bound only stops a bad factor.
    while minl >= 12.0 && k < MAX_LEVELS {
        scales.push(m * factor.powf(f64::from(k)));
        minl *= factor;
        k += 1;
    }
    scales
}

/// Keeps the best `max` candidates; a no-op on ordinary photos.
fn cap(cands: &mut Vec<Cand>, max: usize) {
    if cands.len() > max {
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        cands.truncate(max);
    }
}

fn fix4(b: [f64; 4]) -> [f64; 4] {
    b.map(f64::trunc)
}

fn rerec(b: [f64; 4]) -> [f64; 4] {
    let h = b[3] - b[1];
    let w = b[2] - b[0];
    let l = w.max(h);
    let x1 = b[0] + w * 0.5 - l * 0.5;
    let y1 = b[1] + h * 0.5 - l * 0.5;
    [x1, y1, x1 + l, y1 + l]
}

fn bbreg(b: [f64; 4], reg: [f64; 4]) -> [f64; 4] {
    let w = b[2] - b[0] + 1.0;
    let h = b[3] - b[1] + 1.0;
    [
        b[0] + reg[0] * w,
        b[1] + reg[1] * h,
        b[2] + reg[2] * w,
        b[3] + reg[3] * h,
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum Overlap {
    Union,
    Min,
}

/// The original's greedy NMS: repeatedly keep the best remaining box and drop those overlapping
/// it by more than `threshold`. Returns indices, best first.
fn nms(c: &[Cand], threshold: f64, method: Overlap) -> Vec<usize> {
    let area: Vec<f64> = c
        .iter()
        .map(|c| (c.b[2] - c.b[0] + 1.0) * (c.b[3] - c.b[1] + 1.0))
        .collect();
    let mut order: Vec<usize> = (0..c.len()).collect();
    // numpy's argsort is ascending and, on these small arrays, stable; the original pops the end.
    order.sort_by(|&a, &b| c[a].score.total_cmp(&c[b].score));
    let mut pick = Vec::new();
    while let Some(i) = order.pop() {
        pick.push(i);
        let bi = c[i].b;
        order.retain(|&j| {
            let bj = c[j].b;
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0]) + 1.0).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1]) + 1.0).max(0.0);
            let inter = w * h;
            let o = match method {
                Overlap::Min => inter / area[i].min(area[j]),
                Overlap::Union => inter / (area[i] + area[j] - inter),
            };
            o <= threshold
        });
    }
    pick
}

/// Python's slice bounds `start:stop` on a sequence of length `len`.
fn py_slice(start: i64, stop: i64, len: i64) -> (usize, usize) {
    let norm = |v: i64| if v < 0 { (v + len).max(0) } else { v.min(len) };
    let (a, b) = (norm(start), norm(stop));
    (a as usize, b.max(a) as usize)
}

/// The R-/O-Net inputs: each box cut out with the original's 1-based `pad` (zeros outside the
/// image), resized as float64 with INTER_AREA, normalised and laid out (x, y, c).
fn crops(img: &Plane<'_, u8>, boxes: &[Cand], size: usize) -> Vec<f32> {
    let (w, h) = (img.width as i64, img.height as i64);
    let mut out = Vec::with_capacity(boxes.len() * size * size * 3);
    for c in boxes {
        let (x1, y1, x2, y2) = (c.b[0] as i64, c.b[1] as i64, c.b[2] as i64, c.b[3] as i64);
        let tmpw = (x2 - x1 + 1).max(0);
        let tmph = (y2 - y1 + 1).max(0);
        let (mut dx, mut dy, mut edx, mut edy) = (1, 1, tmpw, tmph);
        let (mut x, mut y, mut ex, mut ey) = (x1, y1, x2, y2);
        if ex > w {
            edx = -ex + w + tmpw;
            ex = w;
        }
        if ey > h {
            edy = -ey + h + tmph;
            ey = h;
        }
        if x < 1 {
            dx = 2 - x;
            x = 1;
        }
        if y < 1 {
            dy = 2 - y;
            y = 1;
        }
        let tmp_w = tmpw as usize;
        let mut tmp = vec![0f64; (tmpw * tmph * 3) as usize];
        let (ty0, ty1) = py_slice(dy - 1, edy, tmph);
        let (tx0, tx1) = py_slice(dx - 1, edx, tmpw);
        let (sy0, sy1) = py_slice(y - 1, ey, h);
        let (sx0, sx1) = py_slice(x - 1, ex, w);
        // numpy would raise on mismatched shapes; such a box keeps its zeros instead.
        if ty1 - ty0 == sy1 - sy0 && tx1 - tx0 == sx1 - sx0 {
            for r in 0..(ty1 - ty0) {
                for q in 0..(tx1 - tx0) {
                    for ch in 0..3 {
                        tmp[((ty0 + r) * tmp_w + tx0 + q) * 3 + ch] =
                            f64::from(img.data[((sy0 + r) * img.width + sx0 + q) * 3 + ch]);
                    }
                }
            }
        }
        let tmp = Plane {
            width: tmp_w,
            height: tmph as usize,
            data: tmp.into(),
        };
        let resized = resize_area(&tmp, size, size);
        for xx in 0..size {
            for yy in 0..size {
                for ch in 0..3 {
                    let v = resized.data[(yy * size + xx) * 3 + ch];
                    out.push(((v - 127.5) * 0.0078125) as f32);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(b: [f64; 4], score: f64) -> Cand {
        Cand {
            b,
            score,
            reg: [0.0; 4],
        }
    }

    #[test]
    fn pyramid_matches_the_original_for_lfw_size() {
        let s = pyramid(250, 250, 20.0, 0.709);
        assert_eq!(s.len(), 8);
        assert_eq!(s[0], 0.6);
        assert!((s[1] - 0.4254).abs() < 1e-12);
        assert!(pyramid(19, 400, 20.0, 0.709).is_empty());
    }

    #[test]
    fn nms_keeps_best_and_drops_overlaps() {
        let c = vec![
            cand([0.0, 0.0, 9.0, 9.0], 0.8),
            cand([1.0, 1.0, 10.0, 10.0], 0.9),
            cand([50.0, 50.0, 59.0, 59.0], 0.7),
        ];
        assert_eq!(nms(&c, 0.5, Overlap::Union), vec![1, 2]);
        // A small box inside a big one: Union keeps both, Min drops the small one.
        let c = vec![
            cand([0.0, 0.0, 99.0, 99.0], 0.9),
            cand([10.0, 10.0, 29.0, 29.0], 0.8),
        ];
        assert_eq!(nms(&c, 0.7, Overlap::Union), vec![0, 1]);
        assert_eq!(nms(&c, 0.7, Overlap::Min), vec![0]);
    }

    #[test]
    fn pnet_strips_tile_the_output_grid_exactly() {
        for (ws, hs) in [
            (12, 12),
            (150, 150),
            (3600, 3560),
            (1000, 263),
            (2001, 700),
            (523, 999),
        ] {
            let strips = pnet_strips(ws, hs);
            assert_eq!(strips.first().map(|s| s.0), Some(0));
            assert_eq!(strips.last().map(|s| s.1), Some(ws));
            let mut next_row = 0;
            for &(x0, x1) in &strips {
                assert_eq!(x0 % 2, 0);
                assert!((x1 - x0) * hs <= PNET_STRIP_PIXELS.max(32 * hs));
                assert_eq!(x0 / 2, next_row, "{ws}x{hs}: gap or overlap at {x0}");
                next_row = x0 / 2 + pnet_rows(x1 - x0);
            }
            assert_eq!(next_row, pnet_rows(ws), "{ws}x{hs}");
        }
    }

    #[test]
    fn rerec_squares_around_the_centre() {
        assert_eq!(rerec([10.0, 20.0, 30.0, 60.0]), [0.0, 20.0, 40.0, 60.0]);
    }

    #[test]
    fn python_slices() {
        assert_eq!(py_slice(0, 5, 10), (0, 5));
        assert_eq!(py_slice(0, -2, 10), (0, 8));
        assert_eq!(py_slice(12, 20, 10), (10, 10));
        assert_eq!(py_slice(5, 3, 10), (5, 5));
    }
}
