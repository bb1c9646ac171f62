//! Images to and from tensors (native only): RGB in [0, 1], as torchvision's `ToTensor`.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImageError(pub String);

/// Decode an image file and bring it to `size` x `size`. An image already at that size is
/// used as it is; others are resized (bilinear with antialiasing, like PIL's `Resize`).
pub fn load_rgb(path: &Path, size: usize) -> Result<RgbImage, ImageError> {
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| ImageError(format!("{}: cannot open ({e})", path.display())))?
        .decode()
        .map_err(|e| ImageError(format!("{}: not a readable image ({e})", path.display())))?;
    Ok(fit(img, size))
}

pub fn fit(img: DynamicImage, size: usize) -> RgbImage {
    let rgb = img.to_rgb8();
    if rgb.width() as usize == size && rgb.height() as usize == size {
        rgb
    } else {
        image::imageops::resize(&rgb, size as u32, size as u32, FilterType::Triangle)
    }
}

/// Images (all the same size) to one `[B, 3, S, S]` tensor.
pub fn to_tensor(images: &[RgbImage], device: &Device) -> Tensor<4> {
    let (w, h) = images[0].dimensions();
    let (w, h) = (w as usize, h as usize);
    let mut values = Vec::with_capacity(images.len() * 3 * w * h);
    for img in images {
        for c in 0..3 {
            values.extend(img.pixels().map(|p| p[c] as f32 / 255.0));
        }
    }
    Tensor::from_data(TensorData::new(values, [images.len(), 3, h, w]), device)
}

/// One image `[C, H, W]` (C = 1 or 3) with values in [0, 1] to an 8-bit RGB image.
pub fn from_chw(values: &[f32], channels: usize, height: usize, width: usize) -> RgbImage {
    let plane = height * width;
    RgbImage::from_fn(width as u32, height as u32, |x, y| {
        let i = y as usize * width + x as usize;
        let px = |c: usize| (values[c.min(channels - 1) * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        image::Rgb([px(0), px(1), px(2)])
    })
}
