//! Training FaceNet's Inception-ResNet-v1 in Rust, on burn: triplet loss with online semi-hard
//! mining (`train_tripletloss.py`) and softmax with center loss (`train_softmax.py`), starting
//! from the pretrained 20180408-102900 weights or from scratch, and exporting the result back to
//! the serving format (an ONNX model package that `facenet-core` loads like the pretrained one).
//!
//! It does not detect or align faces (train on `facenet align` output), and it does not serve.

pub mod checkpoint;
pub mod conv;
pub mod data;
pub mod error;
pub mod export;
pub mod inception_resnet_v1;
pub mod losses;
pub mod optim;
pub mod plot;
pub mod schedule;
pub mod train;
pub mod weights;

pub use error::{Error, Result};

/// The CPU backend training runs on by default.
pub type CpuBackend = burn_ndarray::NdArray<f32>;
/// [`CpuBackend`] with reverse-mode autodiff.
pub type CpuAutodiff = burn::backend::Autodiff<CpuBackend>;

/// The GPU backend (burn's wgpu: Vulkan, Metal or DX12), with the `wgpu` feature.
#[cfg(feature = "wgpu")]
pub type GpuBackend = burn::backend::Wgpu;
/// [`GpuBackend`] with reverse-mode autodiff.
#[cfg(feature = "wgpu")]
pub type GpuAutodiff = burn::backend::Autodiff<GpuBackend>;
