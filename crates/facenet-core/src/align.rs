//! Face selection and alignment as `align_dataset_mtcnn.py` does it: a margin around the MTCNN
//! box, a crop clipped to the image, then Pillow's bilinear resize to a square.
//!
//! The resize is Pillow's convolution resampler (`ImagingResample`), reproduced bit for bit: a
//! triangle filter whose support widens with the downscale factor, coefficients in 22-bit fixed
//! point, horizontal pass first. OpenCV-style bilinear or another crate's rounding moves the
//! embeddings by more than the parity tests allow.

use image::RgbImage;

use crate::mtcnn::RawFace;

/// The original's single-face choice: the largest box, penalised by twice the squared distance
/// of its centre from the image centre.
pub fn select_face(faces: &[RawFace], width: u32, height: u32) -> Option<usize> {
    if faces.len() <= 1 {
        return if faces.is_empty() { None } else { Some(0) };
    }
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let mut best: Option<(usize, f64)> = None;
    for (i, f) in faces.iter().enumerate() {
        let b = f.bbox;
        let size = (b[2] - b[0]) * (b[3] - b[1]);
        let ox = (b[0] + b[2]) / 2.0 - cx;
        let oy = (b[1] + b[3]) / 2.0 - cy;
        let v = size - (ox.powi(2) + oy.powi(2)) * 2.0;
        // argmax keeps the first of equal values.
        if best.is_none_or(|(_, bv)| v > bv) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// The crop rectangle `[x1, y1, x2, y2]`: the box grown by `margin / 2` on each side, clipped to
/// the image and truncated to integers like the original's int32 array.
pub fn crop_box(bbox: [f64; 4], width: u32, height: u32, margin: u32) -> [u32; 4] {
    let half = f64::from(margin) / 2.0;
    let clip = |v: f64, hi: u32| v.max(0.0).min(f64::from(hi)) as u32;
    [
        clip(bbox[0] - half, width),
        clip(bbox[1] - half, height),
        clip(bbox[2] + half, width),
        clip(bbox[3] + half, height),
    ]
}

/// Cuts `bb` out of the image and resizes it to `size`×`size`; `None` when the box is empty
/// (a face entirely outside the frame).
pub fn align(img: &RgbImage, bb: [u32; 4], size: u32) -> Option<RgbImage> {
    let [x1, y1, x2, y2] = bb;
    if x2 <= x1 || y2 <= y1 || x2 > img.width() || y2 > img.height() {
        return None;
    }
    let crop = image::imageops::crop_imm(img, x1, y1, x2 - x1, y2 - y1).to_image();
    Some(pillow_bilinear(&crop, size, size))
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first source index and the fixed-point weights of the taps from there.
struct Coeffs {
    bounds: Vec<(usize, usize)>,
    ksize: usize,
    kk: Vec<i32>,
}

/// Pillow's `precompute_coeffs` for the bilinear filter, then `normalize_coeffs_8bpc`.
fn coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut kk = vec![0i32; out_size * ksize];
    let mut bounds = Vec::with_capacity(out_size);
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            let w = (1.0 - t.abs()).max(0.0);
            *kx = w;
            ww += w;
        }
        for x in 0..n {
            let v = if ww != 0.0 { k[x] / ww } else { k[x] };
            let f = v * f64::from(1u32 << PRECISION_BITS);
            kk[xx * ksize + x] = if v < 0.0 {
                (-0.5 + f) as i32
            } else {
                (0.5 + f) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Coeffs { bounds, ksize, kk }
}

fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `PIL.Image.resize((w, h), Image.BILINEAR)` for an RGB image.
pub fn pillow_bilinear(src: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let (ow, oh) = (out_w as usize, out_h as usize);
    if (sw, sh) == (ow, oh) || sw == 0 || sh == 0 || ow == 0 || oh == 0 {
        return if (sw, sh) == (ow, oh) {
            src.clone()
        } else {
            RgbImage::new(out_w, out_h)
        };
    }
    let raw = src.as_raw();
    let horiz = coeffs(sw, ow);
    let vert = coeffs(sh, oh);
    // Only the rows the vertical pass reads go through the horizontal pass.
    let first = vert.bounds[0].0;
    let last = vert.bounds[oh - 1].0 + vert.bounds[oh - 1].1;
    let need_h = sw != ow;
    let (tmp, tmp_w, row0) = if need_h {
        let mut tmp = vec![0u8; (last - first) * ow * 3];
        for y in first..last {
            for (xx, &(xmin, n)) in horiz.bounds.iter().enumerate() {
                let k = &horiz.kk[xx * horiz.ksize..xx * horiz.ksize + n];
                let mut ss = [1i32 << (PRECISION_BITS - 1); 3];
                for (x, &kx) in k.iter().enumerate() {
                    let p = ((y * sw) + x + xmin) * 3;
                    for c in 0..3 {
                        ss[c] += i32::from(raw[p + c]) * kx;
                    }
                }
                let o = ((y - first) * ow + xx) * 3;
                for c in 0..3 {
                    tmp[o + c] = clip8(ss[c]);
                }
            }
        }
        (tmp, ow, first)
    } else {
        (raw.clone(), sw, 0)
    };
    if sh == oh {
        return RgbImage::from_raw(out_w, out_h, tmp)
            .unwrap_or_else(|| RgbImage::new(out_w, out_h));
    }
    let mut out = vec![0u8; ow * oh * 3];
    for (yy, &(ymin, n)) in vert.bounds.iter().enumerate() {
        let k = &vert.kk[yy * vert.ksize..yy * vert.ksize + n];
        for xx in 0..ow {
            let mut ss = [1i32 << (PRECISION_BITS - 1); 3];
            for (y, &ky) in k.iter().enumerate() {
                let p = ((y + ymin - row0) * tmp_w + xx) * 3;
                for c in 0..3 {
                    ss[c] += i32::from(tmp[p + c]) * ky;
                }
            }
            let o = (yy * ow + xx) * 3;
            for c in 0..3 {
                out[o + c] = clip8(ss[c]);
            }
        }
    }
    RgbImage::from_raw(out_w, out_h, out).unwrap_or_else(|| RgbImage::new(out_w, out_h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(b: [f64; 4]) -> RawFace {
        RawFace {
            bbox: b,
            score: 0.99,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn selection_prefers_large_centred_faces() {
        let faces = [
            face([0.0, 0.0, 40.0, 40.0]),
            face([80.0, 80.0, 120.0, 120.0]),
            face([150.0, 150.0, 200.0, 200.0]),
        ];
        assert_eq!(select_face(&faces, 200, 200), Some(1));
        assert_eq!(select_face(&faces[..1], 200, 200), Some(0));
        assert_eq!(select_face(&[], 200, 200), None);
    }

    #[test]
    fn crop_box_truncates_and_clips() {
        assert_eq!(
            crop_box([77.62, 67.93, 168.17, 183.42], 250, 250, 32),
            [61, 51, 184, 199]
        );
        assert_eq!(
            crop_box([-5.0, 3.0, 260.0, 240.9], 250, 250, 32),
            [0, 0, 250, 250]
        );
    }

    #[test]
    fn constant_image_resizes_to_constant() {
        let img = RgbImage::from_pixel(125, 156, image::Rgb([10, 200, 77]));
        let out = pillow_bilinear(&img, 160, 160);
        assert!(out.pixels().all(|p| p.0 == [10, 200, 77]));
        let out = pillow_bilinear(&img, 31, 17);
        assert!(out.pixels().all(|p| p.0 == [10, 200, 77]));
    }

    #[test]
    fn empty_or_outside_boxes_give_none() {
        let img = RgbImage::new(50, 50);
        assert!(align(&img, [10, 10, 10, 20], 160).is_none());
        assert!(align(&img, [0, 0, 60, 20], 160).is_none());
        assert!(align(&img, [0, 0, 50, 50], 160).is_some());
    }
}
