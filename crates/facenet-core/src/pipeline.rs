//! The whole path from a photo to faces and embeddings, over one verified model package.

use std::path::Path;

use image::RgbImage;

use crate::align::{align, crop_box, select_face};
use crate::decode::{decode_path, DecodeLimits, Decoded};
use crate::error::Result;
use crate::facenet::FaceNet;
use crate::manifest::ModelPackage;
use crate::mtcnn::{Mtcnn, MtcnnConfig, RawFace};

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// ONNX Runtime threads for the embedder; 0 means one per core.
    pub threads: usize,
    pub limits: DecodeLimits,
    pub max_candidates: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            threads: 0,
            limits: DecodeLimits::default(),
            max_candidates: MtcnnConfig::default().max_candidates,
        }
    }
}

/// A detected face in the coordinates of the upright image.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// `[x1, y1, x2, y2]`, clipped to the image.
    pub bbox: [f64; 4],
    /// The detector's box before clipping; alignment uses it, as the original does.
    pub raw_bbox: [f64; 4],
    pub score: f64,
    pub landmarks: [[f64; 2]; 5],
    /// The margin crop that alignment resizes.
    pub crop_box: [u32; 4],
}

pub struct Pipeline {
    pub package: ModelPackage,
    pub detector: Mtcnn,
    pub embedder: FaceNet,
    pub options: PipelineOptions,
}

impl Pipeline {
    /// Opens a model package (checking every digest) and loads its networks.
    pub fn open(dir: &Path, options: PipelineOptions) -> Result<Self> {
        let package = ModelPackage::open(dir)?;
        let m = &package.manifest;
        let config = MtcnnConfig {
            min_size: m.detector.min_size,
            factor: m.detector.factor,
            thresholds: m.detector.thresholds,
            max_candidates: options.max_candidates,
        };
        let detector = Mtcnn::load(
            &package.file_path(&m.files.pnet)?,
            &package.file_path(&m.files.rnet)?,
            &package.file_path(&m.files.onet)?,
            config,
        )?;
        let threads = if options.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            options.threads
        };
        let embedder = FaceNet::load(&package, threads)?;
        Ok(Pipeline {
            package,
            detector,
            embedder,
            options,
        })
    }

    pub fn decode(&self, path: &Path) -> Result<Decoded> {
        decode_path(path, &self.options.limits)
    }

    /// Every face the detector finds, best first.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>> {
        let raw = self.detector.detect(img)?;
        Ok(raw.iter().map(|f| self.face(img, f)).collect())
    }

    fn face(&self, img: &RgbImage, raw: &RawFace) -> Face {
        let (w, h) = (f64::from(img.width()), f64::from(img.height()));
        let b = raw.bbox;
        let margin = self.package.manifest.alignment.margin;
        Face {
            bbox: [
                b[0].clamp(0.0, w),
                b[1].clamp(0.0, h),
                b[2].clamp(0.0, w),
                b[3].clamp(0.0, h),
            ],
            raw_bbox: b,
            score: raw.score,
            landmarks: raw.landmarks,
            crop_box: crop_box(b, img.width(), img.height(), margin),
        }
    }

    /// The face `align_dataset_mtcnn.py` would keep from a photo with several.
    pub fn select(&self, img: &RgbImage, faces: &[Face]) -> Option<usize> {
        let raw: Vec<RawFace> = faces
            .iter()
            .map(|f| RawFace {
                bbox: f.raw_bbox,
                score: f.score,
                landmarks: f.landmarks,
            })
            .collect();
        select_face(&raw, img.width(), img.height())
    }

    /// The aligned crop the embedder sees; `None` when the crop box is empty.
    pub fn aligned(&self, img: &RgbImage, face: &Face) -> Option<RgbImage> {
        align(
            img,
            face.crop_box,
            self.package.manifest.alignment.image_size,
        )
    }

    /// Embeddings of the given faces of one image, batched; `None` for a face with an empty crop.
    pub fn embed_faces(&self, img: &RgbImage, faces: &[Face]) -> Result<Vec<Option<Vec<f32>>>> {
        let crops: Vec<Option<RgbImage>> = faces.iter().map(|f| self.aligned(img, f)).collect();
        let present: Vec<RgbImage> = crops.iter().flatten().cloned().collect();
        let mut embs = self.embedder.embed(&present)?.into_iter();
        Ok(crops
            .iter()
            .map(|c| c.as_ref().and_then(|_| embs.next()))
            .collect())
    }

    pub fn threshold(&self, metric: crate::distance::Metric) -> f32 {
        let t = &self.package.manifest.thresholds;
        match metric {
            crate::distance::Metric::L2 => t.l2,
            crate::distance::Metric::Cosine => t.cosine,
        }
    }
}
