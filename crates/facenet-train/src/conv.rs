//! Convolution as im2col and a matrix product, in burn's tensor ops.
//!
//! burn-ndarray runs a convolution's input gradient through a direct `conv_transpose2d` loop,
//! which made one backward pass of this network 70 times its forward pass (26 s for 4 faces on
//! 2 cores). Written as shifted slices and a batched matmul, the backward pass is slicing and
//! matrix products too, which the same backend does at speed.

use burn::tensor::backend::Backend;
use burn::tensor::ops::PadMode;
use burn::tensor::{s, Tensor};

/// `conv2d` with an `[out, in, kh, kw]` kernel, one stride for both axes and symmetric zero
/// padding `[ph, pw]`.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    stride: usize,
    padding: [usize; 2],
) -> Tensor<B, 4> {
    let [n, c, _, _] = x.dims();
    let [cout, _, kh, kw] = weight.dims();
    let x = if padding == [0, 0] {
        x
    } else {
        x.pad(
            [(padding[0], padding[0]), (padding[1], padding[1])],
            PadMode::Constant(0.0),
        )
    };
    let [_, _, h, w] = x.dims();
    let ho = (h - kh) / stride + 1;
    let wo = (w - kw) / stride + 1;
    let k = c * kh * kw;
    let cols = if kh == 1 && kw == 1 && stride == 1 {
        x.reshape([n, c, ho * wo])
    } else {
        let mut taps = Vec::with_capacity(kh * kw);
        for i in 0..kh {
            for j in 0..kw {
                let tap = x.clone().slice(s![
                    ..,
                    ..,
                    i..i + stride * (ho - 1) + 1;stride,
                    j..j + stride * (wo - 1) + 1;stride
                ]);
                taps.push(tap.reshape([n, c, 1, ho * wo]));
            }
        }
        // [n, c, kh*kw, ho*wo] flattens in the kernel's own (in, kh, kw) order.
        Tensor::cat(taps, 2).reshape([n, k, ho * wo])
    };
    let y = weight.reshape([1, cout, k]).matmul(cols);
    let y = match bias {
        Some(b) => y + b.reshape([1, cout, 1]),
        None => y,
    };
    y.reshape([n, cout, ho, wo])
}
