//! OpenCV's `cv2.resize(..., INTER_AREA)`, reproduced for MTCNN parity.
//!
//! The original detector resizes its pyramid (uint8) and its R-/O-Net crops (float64) with
//! OpenCV. Its three code paths give visibly different numbers, and MTCNN's thresholds are
//! sensitive to them, so each is copied: the integer-ratio "fast area" average, the general
//! area decimation (`computeResizeAreaTab`), and the bilinear variant OpenCV falls back to when
//! either axis is enlarged.

use std::borrow::Cow;

/// A packed, interleaved 3-channel image of `T`, borrowed (a decoded photo is not copied) or
/// owned (a resize result).
#[derive(Debug, Clone, PartialEq)]
pub struct Plane<'a, T: Clone> {
    pub width: usize,
    pub height: usize,
    pub data: Cow<'a, [T]>,
}

const CN: usize = 3;

/// Pixel types OpenCV's resize handles here: `u8` (pyramid) and `f64` (crops).
pub trait Pixel: Copy + Default {
    fn to_f64(self) -> f64;
    /// OpenCV's `saturate_cast` from the work type.
    fn from_work(v: f64) -> Self;
    const IS_U8: bool;
}

impl Pixel for u8 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_work(v: f64) -> Self {
        // cvRound: round half to even, then saturate.
        v.round_ties_even().clamp(0.0, 255.0) as u8
    }
    const IS_U8: bool = true;
}

impl Pixel for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_work(v: f64) -> Self {
        v
    }
    const IS_U8: bool = false;
}

/// `cv2.resize(src, (dst_w, dst_h), interpolation=cv2.INTER_AREA)`.
pub fn resize_area<T: Pixel>(src: &Plane<'_, T>, dst_w: usize, dst_h: usize) -> Plane<'static, T> {
    let (sw, sh) = (src.width, src.height);
    if sw == 0 || sh == 0 || dst_w == 0 || dst_h == 0 {
        return Plane {
            width: dst_w,
            height: dst_h,
            data: vec![T::default(); dst_w * dst_h * CN].into(),
        };
    }
    if sw == dst_w && sh == dst_h {
        return Plane {
            width: sw,
            height: sh,
            data: Cow::Owned(src.data.to_vec()),
        };
    }
    let inv_scale_x = dst_w as f64 / sw as f64;
    let inv_scale_y = dst_h as f64 / sh as f64;
    let scale_x = 1.0 / inv_scale_x;
    let scale_y = 1.0 / inv_scale_y;
    if scale_x >= 1.0 && scale_y >= 1.0 {
        let iscale_x = scale_x.round() as usize;
        let iscale_y = scale_y.round() as usize;
        let fast = (scale_x - iscale_x as f64).abs() < f64::EPSILON
            && (scale_y - iscale_y as f64).abs() < f64::EPSILON;
        if fast {
            return area_fast(src, dst_w, dst_h, iscale_x, iscale_y);
        }
        return area_general(src, dst_w, dst_h, scale_x, scale_y);
    }
    area_as_linear(
        src,
        dst_w,
        dst_h,
        scale_x,
        scale_y,
        inv_scale_x,
        inv_scale_y,
    )
}

/// Integer ratios: a plain box average (`resizeAreaFast_`).
fn area_fast<T: Pixel>(
    src: &Plane<'_, T>,
    dw: usize,
    dh: usize,
    sx: usize,
    sy: usize,
) -> Plane<'static, T> {
    let mut data = vec![T::default(); dw * dh * CN];
    // OpenCV's SIMD path for 2x2 on uint8 rounds half up; its scalar path rounds half to even.
    let half_up = T::IS_U8 && sx == 2 && sy == 2;
    let scale = f64::from(1.0f32 / (sx * sy) as f32);
    for y in 0..dh {
        for x in 0..dw {
            for c in 0..CN {
                let mut sum = 0.0;
                for j in 0..sy {
                    let row = (y * sy + j) * src.width;
                    for i in 0..sx {
                        sum += src.data[(row + x * sx + i) * CN + c].to_f64();
                    }
                }
                data[(y * dw + x) * CN + c] = if half_up {
                    T::from_work(((sum as u32 + 2) >> 2) as f64)
                } else if T::IS_U8 {
                    T::from_work(f64::from((sum as f32) * (scale as f32)))
                } else {
                    T::from_work(sum * scale)
                };
            }
        }
    }
    Plane {
        width: dw,
        height: dh,
        data: data.into(),
    }
}

struct Tap {
    di: usize,
    si: usize,
    alpha: f32,
}

/// `computeResizeAreaTab`: which source cells feed each destination cell, and by how much.
fn area_tab(ssize: usize, dsize: usize, scale: f64) -> Vec<Tap> {
    let mut tab = Vec::with_capacity(ssize * 2);
    for dx in 0..dsize {
        let fsx1 = dx as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell_width = scale.min(ssize as f64 - fsx1);
        let mut sx1 = fsx1.ceil() as i64;
        let mut sx2 = fsx2.floor() as i64;
        sx2 = sx2.min(ssize as i64 - 1);
        sx1 = sx1.min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            tab.push(Tap {
                di: dx,
                si: (sx1 - 1) as usize,
                alpha: ((sx1 as f64 - fsx1) / cell_width) as f32,
            });
        }
        for sx in sx1..sx2 {
            tab.push(Tap {
                di: dx,
                si: sx as usize,
                alpha: (1.0 / cell_width) as f32,
            });
        }
        if fsx2 - sx2 as f64 > 1e-3 {
            tab.push(Tap {
                di: dx,
                si: sx2 as usize,
                alpha: ((fsx2 - sx2 as f64).min(1.0).min(cell_width) / cell_width) as f32,
            });
        }
    }
    tab
}

/// Non-integer downscale (`resizeArea_`): the work type is float for uint8 and double for double.
fn area_general<T: Pixel>(
    src: &Plane<'_, T>,
    dw: usize,
    dh: usize,
    sx: f64,
    sy: f64,
) -> Plane<'static, T> {
    if T::IS_U8 {
        area_general_work::<T, f32>(src, dw, dh, sx, sy)
    } else {
        area_general_work::<T, f64>(src, dw, dh, sx, sy)
    }
}

/// The arithmetic type OpenCV accumulates in; its rounding is part of the result.
trait Work: Copy + Default + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> {
    fn from_f64(v: f64) -> Self;
    fn from_f32(v: f32) -> Self;
    fn to_f64(self) -> f64;
}

impl Work for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Work for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

fn area_general_work<T: Pixel, W: Work>(
    src: &Plane<'_, T>,
    dw: usize,
    dh: usize,
    sx: f64,
    sy: f64,
) -> Plane<'static, T> {
    let xtab: Vec<(usize, usize, W)> = area_tab(src.width, dw, sx)
        .into_iter()
        .map(|t| (t.si * CN, t.di * CN, W::from_f32(t.alpha)))
        .collect();
    let ytab = area_tab(src.height, dh, sy);
    let width = dw * CN;
    let mut data = vec![T::default(); dh * width];
    let mut row_w = vec![W::default(); src.width * CN];
    let mut buf = vec![W::default(); width];
    let mut sum = vec![W::default(); width];
    let mut prev_dy = ytab.first().map_or(0, |t| t.di);
    let mut buf_row = usize::MAX;
    for yt in &ytab {
        let beta = W::from_f32(yt.alpha);
        // A source row usually feeds two output rows in a row; its horizontal pass is reused.
        if yt.si != buf_row {
            let row = &src.data[yt.si * src.width * CN..(yt.si + 1) * src.width * CN];
            for (w, v) in row_w.iter_mut().zip(row) {
                *w = W::from_f64(v.to_f64());
            }
            buf.iter_mut().for_each(|b| *b = W::default());
            for &(si, di, alpha) in &xtab {
                if let (Some(s), Some(b)) = (row_w.get(si..si + CN), buf.get_mut(di..di + CN)) {
                    b[0] = b[0] + s[0] * alpha;
                    b[1] = b[1] + s[1] * alpha;
                    b[2] = b[2] + s[2] * alpha;
                }
            }
            buf_row = yt.si;
        }
        if yt.di != prev_dy {
            let out = &mut data[prev_dy * width..(prev_dy + 1) * width];
            for ((o, s), b) in out.iter_mut().zip(sum.iter_mut()).zip(&buf) {
                *o = T::from_work(s.to_f64());
                *s = beta * *b;
            }
            prev_dy = yt.di;
        } else {
            for (s, b) in sum.iter_mut().zip(&buf) {
                *s = *s + beta * *b;
            }
        }
    }
    let out = &mut data[prev_dy * width..(prev_dy + 1) * width];
    for (o, s) in out.iter_mut().zip(&sum) {
        *o = T::from_work(s.to_f64());
    }
    Plane {
        width: dw,
        height: dh,
        data: data.into(),
    }
}

/// One axis of the bilinear fallback: source index and the weight of its right/lower neighbour.
fn linear_axis(ssize: usize, dsize: usize, scale: f64, inv_scale: f64) -> (Vec<usize>, Vec<f32>) {
    let mut ofs = Vec::with_capacity(dsize);
    let mut frac = Vec::with_capacity(dsize);
    for d in 0..dsize {
        let s = (d as f64 * scale).floor() as i64;
        let mut f = ((d + 1) as f64 - (s + 1) as f64 * inv_scale) as f32;
        f = if f <= 0.0 { 0.0 } else { f - f.floor() };
        let (s, f) = if s >= ssize as i64 - 1 {
            (ssize as i64 - 1, 0.0)
        } else {
            (s.max(0), f)
        };
        ofs.push(s as usize);
        frac.push(f);
    }
    (ofs, frac)
}

/// INTER_AREA when an axis grows: OpenCV's linear resize with area-style coefficients.
fn area_as_linear<T: Pixel>(
    src: &Plane<'_, T>,
    dw: usize,
    dh: usize,
    scale_x: f64,
    scale_y: f64,
    inv_scale_x: f64,
    inv_scale_y: f64,
) -> Plane<'static, T> {
    let (xofs, xfrac) = linear_axis(src.width, dw, scale_x, inv_scale_x);
    let (yofs, yfrac) = linear_axis_rows(src.height, dh, scale_y, inv_scale_y);
    let sw = src.width;
    let hrow = |sy: usize| -> Vec<f64> {
        let row = &src.data[sy * sw * CN..(sy + 1) * sw * CN];
        let mut out = vec![0.0f64; dw * CN];
        for (dx, (&sx, &fx)) in xofs.iter().zip(&xfrac).enumerate() {
            let a0 = f64::from(1.0f32 - fx);
            let a1 = f64::from(fx);
            let nx = (sx + 1).min(sw - 1);
            for c in 0..CN {
                out[dx * CN + c] = if sx + 1 < sw {
                    row[sx * CN + c].to_f64() * a0 + row[nx * CN + c].to_f64() * a1
                } else {
                    row[sx * CN + c].to_f64()
                };
            }
        }
        out
    };
    let mut data = vec![T::default(); dw * dh * CN];
    for (dy, (&sy, &fy)) in yofs.iter().zip(&yfrac).enumerate() {
        let r0 = hrow(sy.min(src.height - 1));
        let r1 = hrow((sy + 1).min(src.height - 1));
        let b0 = f64::from(1.0f32 - fy);
        let b1 = f64::from(fy);
        for i in 0..dw * CN {
            data[dy * dw * CN + i] = T::from_work(r0[i] * b0 + r1[i] * b1);
        }
    }
    Plane {
        width: dw,
        height: dh,
        data: data.into(),
    }
}

/// Rows are not clamped when the coefficients are computed; the row fetch clamps instead.
fn linear_axis_rows(
    ssize: usize,
    dsize: usize,
    scale: f64,
    inv_scale: f64,
) -> (Vec<usize>, Vec<f32>) {
    let mut ofs = Vec::with_capacity(dsize);
    let mut frac = Vec::with_capacity(dsize);
    for d in 0..dsize {
        let s = (d as f64 * scale).floor() as i64;
        let mut f = ((d + 1) as f64 - (s + 1) as f64 * inv_scale) as f32;
        f = if f <= 0.0 { 0.0 } else { f - f.floor() };
        ofs.push(s.clamp(0, ssize as i64 - 1) as usize);
        frac.push(f);
    }
    (ofs, frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane_u8(w: usize, h: usize, f: impl Fn(usize, usize, usize) -> u8) -> Plane<'static, u8> {
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    data.push(f(x, y, c));
                }
            }
        }
        Plane {
            width: w,
            height: h,
            data: data.into(),
        }
    }

    #[test]
    fn constant_image_stays_constant_on_every_path() {
        let src = plane_u8(37, 23, |_, _, c| 40 + c as u8);
        for (w, h) in [(18, 11), (12, 12), (74, 46), (40, 20), (37, 23)] {
            let out = resize_area(&src, w, h);
            assert_eq!((out.width, out.height), (w, h));
            for (i, v) in out.data.iter().enumerate() {
                assert_eq!(*v, 40 + (i % 3) as u8, "{w}x{h} index {i}");
            }
        }
    }

    #[test]
    fn two_by_two_average_rounds_half_up_like_opencv_simd() {
        // 1,2,1,2 averages to 1.5, which OpenCV's 2x2 uint8 path rounds to 2.
        let src = plane_u8(2, 2, |x, _, _| 1 + x as u8);
        let out = resize_area(&src, 1, 1);
        assert_eq!(out.data, vec![2, 2, 2]);
    }

    #[test]
    fn general_area_weights_partial_cells() {
        // 3 -> 2 columns: cell width 1.5, so dst0 = (a + 0.5 b)/1.5 and dst1 = (0.5 b + c)/1.5.
        let vals = [0.0, 90.0, 30.0];
        let src = Plane {
            width: 3,
            height: 1,
            data: vals
                .iter()
                .flat_map(|&v| [v, v, v])
                .collect::<Vec<f64>>()
                .into(),
        };
        let out = resize_area(&src, 2, 1);
        let a = f64::from((1.0f64 / 1.5) as f32);
        let half = f64::from((0.5f64 / 1.5) as f32);
        assert!((out.data[0] - (0.0 * a + 90.0 * half)).abs() < 1e-9);
        assert!((out.data[3] - (90.0 * half + 30.0 * a)).abs() < 1e-9);
    }

    #[test]
    fn enlarging_repeats_edges_and_interpolates_inside() {
        let src = Plane {
            width: 2,
            height: 1,
            data: vec![0.0, 0.0, 0.0, 100.0, 100.0, 100.0].into(),
        };
        let out = resize_area(&src, 4, 1);
        let row: Vec<f64> = out.data.iter().step_by(3).copied().collect();
        // INTER_AREA upscaling: cells fully inside a source pixel copy it; the boundary cell blends.
        assert_eq!(row, vec![0.0, 0.0, 100.0, 100.0]);
        let out = resize_area(&src, 3, 1);
        let row: Vec<f64> = out.data.iter().step_by(3).copied().collect();
        assert!((row[0] - 0.0).abs() < 1e-9);
        assert!((row[1] - 50.0).abs() < 1e-4, "{row:?}");
        assert!((row[2] - 100.0).abs() < 1e-9);
    }
}
