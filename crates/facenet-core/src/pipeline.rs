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
    /// ONNX Runtime threads per detector session.
    pub detector_threads: usize,
    /// Images processed at once by [`Pipeline::run_many`]; 0 means one per core.
    pub workers: usize,
    pub limits: DecodeLimits,
    pub max_candidates: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            threads: 0,
            detector_threads: 1,
            workers: 0,
            limits: DecodeLimits::default(),
            max_candidates: MtcnnConfig::default().max_candidates,
        }
    }
}

/// 0 means one per core.
fn resolve(n: usize) -> usize {
    if n == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        n
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
            threads: options.detector_threads,
            copies: resolve(options.workers),
        };
        let detector = Mtcnn::load(
            &package.file_path(&m.files.pnet)?,
            &package.file_path(&m.files.rnet)?,
            &package.file_path(&m.files.onet)?,
            config,
        )?;
        let embedder = FaceNet::load(&package, resolve(options.threads))?;
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

impl Pipeline {
    /// Worker threads [`Pipeline::map`] uses.
    pub fn workers(&self) -> usize {
        resolve(self.options.workers)
    }

    /// Runs `f` over `items` on the configured number of worker threads and returns the results
    /// in input order. The networks' sessions are shared, so while one worker embeds another
    /// can detect.
    pub fn map<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&Pipeline, &T) -> R + Sync,
    ) -> Vec<R> {
        let workers = self.workers().min(items.len()).max(1);
        if workers == 1 {
            return items.iter().map(|it| f(self, it)).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut slots: Vec<Option<R>> = Vec::with_capacity(items.len());
        slots.resize_with(items.len(), || None);
        let done = std::sync::Mutex::new(slots);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(self, item);
                    if let Ok(mut d) = done.lock() {
                        d[i] = Some(r);
                    }
                });
            }
        });
        done.into_inner()
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect()
    }
}

/// Which faces of each image to embed in [`Pipeline::analyse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embed {
    None,
    /// Every detected face.
    All,
    /// Only the face `align_dataset_mtcnn.py` would keep (largest, most central).
    Main,
}

/// One image through the pipeline.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub width: u32,
    pub height: u32,
    /// EXIF orientation applied while decoding (1 = none).
    pub orientation: u8,
    /// Every face, best first.
    pub faces: Vec<Face>,
    /// The main face, when there is one.
    pub selected: Option<usize>,
    /// Parallel to `faces`; `Some` for each face that was embedded.
    pub embeddings: Vec<Option<Vec<f32>>>,
}

/// An image after detection, with the crops still to embed (face index, aligned crop).
type Detected = (Analysis, Vec<(usize, RgbImage)>);

/// Images decoded and detected together before their faces are embedded in shared batches;
/// bounds the crops held in memory.
const ANALYSE_CHUNK: usize = 64;

impl Pipeline {
    /// Decodes, detects, aligns and embeds many images: detection runs on the worker threads,
    /// then the chunk's faces are embedded in full batches, which is where the embedder is
    /// fastest. Results are in input order, one per path.
    pub fn analyse<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
        embed: Embed,
    ) -> Vec<Result<Analysis>> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(ANALYSE_CHUNK) {
            let detected = self.map(chunk, |p, path| {
                p.detect_for_embedding(path.as_ref(), embed)
            });
            out.extend(self.embed_detected(detected));
        }
        out
    }

    fn detect_for_embedding(&self, path: &Path, embed: Embed) -> Result<Detected> {
        let decoded = self.decode(path)?;
        let img = decoded.image;
        let faces = self.detect(&img)?;
        let selected = self.select(&img, &faces);
        let wanted: Vec<usize> = match embed {
            Embed::None => Vec::new(),
            Embed::All => (0..faces.len()).collect(),
            Embed::Main => selected.into_iter().collect(),
        };
        let crops = wanted
            .into_iter()
            .filter_map(|i| self.aligned(&img, &faces[i]).map(|c| (i, c)))
            .collect();
        let analysis = Analysis {
            width: img.width(),
            height: img.height(),
            orientation: decoded.orientation,
            embeddings: vec![None; faces.len()],
            faces,
            selected,
        };
        Ok((analysis, crops))
    }

    fn embed_detected(&self, detected: Vec<Result<Detected>>) -> Vec<Result<Analysis>> {
        let crops: Vec<RgbImage> = detected
            .iter()
            .flatten()
            .flat_map(|(_, c)| c.iter().map(|(_, img)| img.clone()))
            .collect();
        let embeddings = match self.embedder.embed(&crops) {
            Ok(e) => e,
            Err(e) => {
                let msg = e.to_string();
                return detected
                    .into_iter()
                    .map(|d| d.and(Err(crate::Error::Runtime(msg.clone()))))
                    .collect();
            }
        };
        let mut embeddings = embeddings.into_iter();
        detected
            .into_iter()
            .map(|d| {
                let (mut analysis, crops) = d?;
                for (i, _) in crops {
                    analysis.embeddings[i] = embeddings.next();
                }
                Ok(analysis)
            })
            .collect()
    }
}
