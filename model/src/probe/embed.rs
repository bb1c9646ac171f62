//! Frozen embeddings of annotated faces: decode, crop, resize, and run the encoder in batches.
//! An image that cannot be read is skipped and reported, not fatal: large public data sets
//! always have a few broken files.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use burn::tensor::Device;
use image::RgbImage;

use super::datasets::{Rect, Sample};
use crate::FabNet;
use crate::image_io::{ImageError, fit, to_tensor};

/// The embeddings of the samples that could be read.
#[derive(Debug, Clone, Default)]
pub struct Embedded {
    /// Indices into the samples, in order.
    pub kept: Vec<usize>,
    /// One `[E]` embedding per kept sample.
    pub features: Vec<Vec<f32>>,
    /// The region of each kept image that the network saw (the crop, clamped to the image).
    pub frames: Vec<Rect>,
    /// Images that could not be used, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Decode `path`, cut out `crop` (clamped to the image; the whole image when `None`) and bring
/// it to `size` x `size` as [`crate::image_io::load_rgb`] does. Returns the image and the
/// region actually used.
pub fn load_face(path: &Path, crop: Option<Rect>, size: usize) -> Result<(RgbImage, Rect), ImageError> {
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| ImageError(format!("{}: cannot open ({e})", path.display())))?
        .decode()
        .map_err(|e| ImageError(format!("{}: not a readable image ({e})", path.display())))?;
    let (w, h) = (img.width() as f32, img.height() as f32);
    let Some(crop) = crop else {
        return Ok((fit(img, size), Rect { x: 0.0, y: 0.0, width: w, height: h }));
    };
    let (x0, y0) = (crop.x.max(0.0).round(), crop.y.max(0.0).round());
    let (x1, y1) = ((crop.x + crop.width).min(w).round(), (crop.y + crop.height).min(h).round());
    if x1 - x0 < 1.0 || y1 - y0 < 1.0 {
        return Err(ImageError(format!("{}: face region {crop:?} lies outside the {w}x{h} image", path.display())));
    }
    let region = img.crop_imm(x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32);
    Ok((fit(region, size), Rect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }))
}

/// What a probe reads from a face: the network's embedding, or the face's own pixels (the
/// baseline that says whether the network adds anything over the image itself).
#[derive(Clone, Copy)]
pub enum Features<'a> {
    Embedding(&'a FabNet),
    /// The face region brought to `side` x `side` and averaged to grey: `side`² features.
    Pixels {
        side: usize,
    },
}

impl Features<'_> {
    pub fn dim(&self) -> usize {
        match self {
            Features::Embedding(model) => model.config.embedding_dim,
            Features::Pixels { side } => side * side,
        }
    }

    /// The side the face is loaded at.
    fn input_size(&self) -> usize {
        match self {
            Features::Embedding(model) => model.config.image_size,
            Features::Pixels { side } => *side,
        }
    }

    fn extract(&self, images: &[RgbImage], device: &Device) -> Result<Vec<Vec<f32>>> {
        match self {
            Features::Embedding(model) => {
                let values = model
                    .embed(to_tensor(images, device))
                    .try_into_vec_as::<f32>()
                    .map_err(|e| anyhow!("cannot read the embeddings back from the device: {e:?}"))?;
                Ok(values.chunks_exact(model.config.embedding_dim).map(<[f32]>::to_vec).collect())
            }
            Features::Pixels { .. } => {
                Ok(images.iter().map(|img| img.pixels().map(|p| (p[0] as f32 + p[1] as f32 + p[2] as f32) / (3.0 * 255.0)).collect()).collect())
            }
        }
    }
}

/// Embed every sample with the frozen `model`, `batch` images per forward pass; `progress`
/// hears the number of samples handled so far after each batch.
pub fn embed_samples(model: &FabNet, samples: &[Sample], device: &Device, batch: usize, progress: impl FnMut(usize)) -> Result<Embedded> {
    extract_features(Features::Embedding(model), samples, device, batch, progress)
}

/// The `features` of every sample, `batch` images at a time.
pub fn extract_features(features: Features, samples: &[Sample], device: &Device, batch: usize, mut progress: impl FnMut(usize)) -> Result<Embedded> {
    let size = features.input_size();
    let mut out = Embedded::default();
    for (start, chunk) in samples.chunks(batch.max(1)).enumerate().map(|(i, c)| (i * batch.max(1), c)) {
        let mut images = Vec::with_capacity(chunk.len());
        for (i, sample) in chunk.iter().enumerate() {
            match load_face(&sample.image, sample.crop, size) {
                Ok((image, frame)) => {
                    images.push(image);
                    out.kept.push(start + i);
                    out.frames.push(frame);
                }
                Err(e) => out.skipped.push((sample.image.clone(), e.0)),
            }
        }
        if !images.is_empty() {
            out.features.extend(features.extract(&images, device)?);
        }
        progress(start + chunk.len());
    }
    Ok(out)
}
