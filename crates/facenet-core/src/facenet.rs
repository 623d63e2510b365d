//! FaceNet's Inception-ResNet-v1 (Szegedy et al. 2016; Schroff et al. 2015), as the model
//! package's converted ONNX graph: 160×160 RGB faces in, L2-normalised embeddings out.
//!
//! The graph keeps the original's blocks (`Block35` ×5, `Reduction_A`, `Block17` ×10,
//! `Reduction_B`, `Block8` ×5, residual scales 0.17 / 0.10 / 0.20) with batch-norm folded into
//! the convolutions, and normalises in-graph, so this file only prepares pixels and batches.

use image::RgbImage;

use crate::engine::Net;
use crate::error::{Error, Result};
use crate::manifest::ModelPackage;

pub const INPUT: &str = "input";
pub const OUTPUT: &str = "embeddings";

pub struct FaceNet {
    net: Net,
    pub input_size: u32,
    pub embedding_size: usize,
    mean: f32,
    scale: f32,
    /// Faces per ONNX Runtime call; larger batches amortise per-call overhead.
    pub max_batch: usize,
}

impl FaceNet {
    pub fn load(pkg: &ModelPackage, intra_threads: usize) -> Result<Self> {
        let m = &pkg.manifest;
        if m.preprocessing.standardization != "fixed" || m.preprocessing.channel_order != "RGB" {
            return Err(Error::Package {
                dir: pkg.dir.clone(),
                reason: format!(
                    "unsupported preprocessing {:?} / {:?}",
                    m.preprocessing.standardization, m.preprocessing.channel_order
                ),
            });
        }
        let path = pkg.file_path(&m.files.embedder)?;
        Ok(FaceNet {
            net: Net::open(&path, intra_threads, 1)?,
            input_size: m.input_size,
            embedding_size: m.embedding_size,
            mean: m.preprocessing.mean,
            scale: m.preprocessing.scale,
            max_batch: 32,
        })
    }

    /// Embeds aligned faces (each `input_size` square), in order.
    pub fn embed(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(self.max_batch.max(1)) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let s = self.input_size;
        let mut input = Vec::with_capacity(faces.len() * (s * s * 3) as usize);
        for f in faces {
            if f.dimensions() != (s, s) {
                return Err(Error::Invalid(format!(
                    "aligned face is {}x{}, the model takes {s}x{s}",
                    f.width(),
                    f.height()
                )));
            }
            // (x - 127.5) / 128, in float32 as the original's tf.cast/subtract/divide.
            input.extend(
                f.as_raw()
                    .iter()
                    .map(|&v| (f32::from(v) - self.mean) * self.scale),
            );
        }
        let out = self.net.run(
            INPUT,
            &[faces.len(), s as usize, s as usize, 3],
            &input,
            &[OUTPUT],
        )?;
        let d = self.embedding_size;
        let data = &out[0].data;
        if data.len() != faces.len() * d {
            return Err(Error::Runtime(format!(
                "embedder returned {} values for {} faces of {d}",
                data.len(),
                faces.len()
            )));
        }
        Ok(data.chunks(d).map(<[f32]>::to_vec).collect())
    }
}
