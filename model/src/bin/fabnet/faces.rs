//! `fabnet import-detector` and `fabnet detect`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use fabnet::face::{DetectParams, Detector, Mtcnn, RgbFrame};

/// The MTCNN weights shipped in `public/weights/`, built in so that the CLI works anywhere.
const BUILT_IN_DETECTOR: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../public/weights/mtcnn.bpk"));

pub fn import_detector(dir: &Path, output: &Path) -> Result<()> {
    let model = Mtcnn::import_facenet(dir, &Device::flex())?;
    let bytes = model.to_bytes("MTCNN (Zhang et al. 2016) weights from facenet-pytorch 2.6.0 (MIT licence), converted by `fabnet import-detector`")?;
    let tmp = output.with_extension("tmp-write");
    std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, output)).with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!("wrote {} ({} bytes)", output.display(), bytes.len());
    Ok(())
}

/// The detector from a weights file, or the built-in one.
pub fn detector(path: Option<&Path>, device: &Device) -> Result<Detector> {
    let bytes = match path {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => BUILT_IN_DETECTOR.to_vec(),
    };
    let (nets, _) = Mtcnn::from_bytes(&bytes, device).with_context(|| path.map(|p| p.display().to_string()).unwrap_or_else(|| "built-in detector".into()))?;
    Ok(Detector::new(nets, DetectParams::default(), device.clone()))
}

pub fn load_frame(path: &Path) -> Result<RgbFrame> {
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .with_context(|| format!("{}: cannot open", path.display()))?
        .decode()
        .with_context(|| format!("{}: not a readable image", path.display()))?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok(RgbFrame::new(w, h, img.into_raw()).expect("RGB buffer of the image's size"))
}

pub fn detect(detector_path: Option<&Path>, backend: &str, images: &[PathBuf]) -> Result<()> {
    let device = crate::device(backend)?;
    let detector = detector(detector_path, &device)?;
    let frames = images.iter().map(|p| load_frame(p)).collect::<Result<Vec<_>>>()?;
    for (path, frame) in images.iter().zip(frames) {
        let faces = pollster::block_on(detector.detect(&frame))?;
        println!("{}", serde_json::json!({ "image": path.display().to_string(), "faces": faces }));
    }
    Ok(())
}
