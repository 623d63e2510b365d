//! Aligned training data (`facenet align` output: `<class>/<image>.png`), the original's
//! `get_dataset`, `split_dataset` by identity, the people × images sampling of
//! `train_tripletloss.sample_people`, and the random crop / flip of `facenet.load_data`.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::error::{io_err, Error, Result};
use crate::inception_resnet_v1::INPUT_SIZE;

/// `(x - 127.5) / 128`, the serving path's fixed standardisation.
pub const MEAN: f32 = 127.5;
pub const SCALE: f32 = 1.0 / 128.0;

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

#[derive(Debug, Clone)]
pub struct Class {
    pub name: String,
    pub images: Vec<PathBuf>,
}

/// The classes of a dataset directory, sorted by name, each with its images sorted; classes
/// without images are left out (as `get_dataset` keeps them but nothing can be drawn from them).
pub fn read_dataset(dir: &Path) -> Result<Vec<Class>> {
    let mut classes = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let mut images: Vec<PathBuf> = std::fs::read_dir(&d)
            .map_err(io_err(&d))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        images.sort();
        if images.is_empty() {
            continue;
        }
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        classes.push(Class { name, images });
    }
    if classes.is_empty() {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            reason:
                "no <class>/<image>.png folders found; point --data-dir at `facenet align` output"
                    .into(),
        });
    }
    Ok(classes)
}

/// Holds out `fraction` of the identities (at least one when `fraction > 0` and there are two or
/// more), chosen by a seeded shuffle, so validation faces belong to people never trained on.
pub fn split_by_identity<R: Rng + ?Sized>(
    mut classes: Vec<Class>,
    fraction: f64,
    rng: &mut R,
) -> (Vec<Class>, Vec<Class>) {
    if fraction <= 0.0 || classes.len() < 2 {
        return (classes, Vec::new());
    }
    classes.shuffle(rng);
    let n_val = ((classes.len() as f64 * fraction).round() as usize).clamp(1, classes.len() - 1);
    let val = classes.split_off(classes.len() - n_val);
    classes.sort_by(|a, b| a.name.cmp(&b.name));
    (classes, val)
}

/// One sampled batch: `class_sizes[i]` consecutive images of one person each.
#[derive(Debug, Clone)]
pub struct Sample {
    pub paths: Vec<PathBuf>,
    /// Index into the class list, per image.
    pub labels: Vec<usize>,
    pub class_sizes: Vec<usize>,
}

/// `sample_people`: people in random order, up to `images_per_person` random images of each,
/// until `people_per_batch * images_per_person` images are drawn. People with a single image
/// cannot form a pair and are skipped unless nothing else is left.
pub fn sample_people<R: Rng + ?Sized>(
    classes: &[Class],
    people_per_batch: usize,
    images_per_person: usize,
    rng: &mut R,
) -> Sample {
    let want = people_per_batch * images_per_person;
    let mut order: Vec<usize> = (0..classes.len()).collect();
    order.shuffle(rng);
    order.sort_by_key(|&c| classes[c].images.len() < 2);
    let mut s = Sample {
        paths: Vec::new(),
        labels: Vec::new(),
        class_sizes: Vec::new(),
    };
    for c in order {
        if s.paths.len() >= want || s.class_sizes.len() >= people_per_batch {
            break;
        }
        let mut idx: Vec<usize> = (0..classes[c].images.len()).collect();
        idx.shuffle(rng);
        let take = images_per_person.min(idx.len()).min(want - s.paths.len());
        for &i in &idx[..take] {
            s.paths.push(classes[c].images[i].clone());
            s.labels.push(c);
        }
        s.class_sizes.push(take);
    }
    s
}

/// Random uniform draws of `batch` images (softmax training), with their class labels.
pub fn sample_images<R: Rng + ?Sized>(classes: &[Class], batch: usize, rng: &mut R) -> Sample {
    let total: usize = classes.iter().map(|c| c.images.len()).sum();
    let mut s = Sample {
        paths: Vec::new(),
        labels: Vec::new(),
        class_sizes: Vec::new(),
    };
    if total == 0 {
        return s;
    }
    for _ in 0..batch.min(total) {
        let mut k = rng.random_range(0..total);
        for (c, class) in classes.iter().enumerate() {
            if k < class.images.len() {
                s.paths.push(class.images[k].clone());
                s.labels.push(c);
                break;
            }
            k -= class.images.len();
        }
    }
    s
}

#[derive(Debug, Clone, Copy)]
pub struct Augment {
    pub random_crop: bool,
    pub random_flip: bool,
}

impl Augment {
    /// Neither crop nor flip: the centre 160 px, as evaluation sees a face.
    pub const NONE: Augment = Augment {
        random_crop: false,
        random_flip: false,
    };
}

/// The centre 160 px of each aligned face, as evaluation sees them.
pub fn load_centered(paths: &[PathBuf]) -> Result<Vec<RgbImage>> {
    // Without augmentation nothing is drawn from the generator.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    paths
        .iter()
        .map(|p| load_face(p, Augment::NONE, &mut rng))
        .collect()
}

/// Reads an aligned face and makes it the network's 160×160: a random (or central) crop of a
/// larger image, as `--random_crop` on 182 px alignments; a smaller one is refused.
pub fn load_face<R: Rng + ?Sized>(path: &Path, aug: Augment, rng: &mut R) -> Result<RgbImage> {
    let img = image::open(path)
        .map_err(|e| Error::Data {
            path: path.to_path_buf(),
            reason: format!("cannot read image: {e}"),
        })?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let s = INPUT_SIZE as u32;
    if w < s || h < s {
        return Err(Error::Data {
            path: path.to_path_buf(),
            reason: format!("{w}x{h} is smaller than the network's {s}x{s}"),
        });
    }
    let (x0, y0) = if aug.random_crop {
        (rng.random_range(0..=w - s), rng.random_range(0..=h - s))
    } else {
        ((w - s) / 2, (h - s) / 2)
    };
    let mut face = image::imageops::crop_imm(&img, x0, y0, s, s).to_image();
    if aug.random_flip && rng.random_bool(0.5) {
        image::imageops::flip_horizontal_in_place(&mut face);
    }
    Ok(face)
}

/// Faces → standardised NCHW tensor.
pub fn to_tensor<B: Backend>(faces: &[RgbImage], device: &B::Device) -> Tensor<B, 4> {
    let s = INPUT_SIZE;
    let plane = s * s;
    let mut data = vec![0f32; faces.len() * 3 * plane];
    for (n, f) in faces.iter().enumerate() {
        let base = n * 3 * plane;
        for (i, px) in f.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                data[base + c * plane + i] = (f32::from(px[c]) - MEAN) * SCALE;
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [faces.len(), 3, s, s]), device)
}
