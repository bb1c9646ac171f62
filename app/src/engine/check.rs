//! "Did fine-tuning help?": a landmark probe on frames the run trains on and frames it holds
//! out, before and after the run, beside an untrained network of the same preset and seed.

use fabnet::FabNet;
use fabnet::burn::module::Module;
use fabnet::burn::tensor::Device;
use fabnet::data::CropJitter;
use fabnet::face::{Detection, RgbFrame};
use fabnet::probe::{CheckFrames, FineTuneCheck, fine_tune_check};

use super::fine_tune::Training;
use super::{Engine, Rows, embed};

/// At most this many frames of each split are labelled for the check (evenly spread), so that
/// a long clip does not hold up the start of training.
const CHECK_FRAMES: usize = 48;

/// The "did fine-tuning help" check: frames the run trains on (the probe fits there) and frames
/// it holds out (the probe is scored there), labelled with the detector's five landmarks, and
/// their embeddings before the run and by an untrained network of the same preset and seed.
pub(crate) struct CheckSet {
    fit: CheckFrames,
    test: CheckFrames,
    views: (Vec<Vec<f32>>, Vec<Vec<f32>>),
    before: (Rows, Rows),
    untrained: (Rows, Rows),
}

impl CheckSet {
    pub(crate) async fn measure(e: &Engine, t: &Training) -> Result<Option<Self>, String> {
        let model = t.session.model().valid();
        let size = model.config.image_size;
        let (fit, fit_views) = labelled_views(e, t.train_tracks.tracks(), size).await?;
        let (test, test_views) = labelled_views(e, t.val_tracks.tracks(), size).await?;
        if fit.landmarks.len() < 2 || test.landmarks.len() < 2 {
            return Ok(None);
        }
        let embeddings = |m: FabNet, views: (Vec<Vec<f32>>, Vec<Vec<f32>>)| async move {
            Ok::<_, String>((embed(&m, &e.device, &views.0).await?.0, embed(&m, &e.device, &views.1).await?.0))
        };
        let views = (fit_views, test_views);
        let before = embeddings(model.clone(), views.clone()).await?;
        e.device.seed(t.session.settings().seed);
        let fresh = FabNet::new(model.config, &e.device).map_err(|err| err.to_string())?;
        let untrained = embeddings(fresh, views.clone()).await?;
        Ok(Some(Self { fit, test, views, before, untrained }))
    }

    /// The probe on the same frames with the model the run made.
    pub(crate) async fn after(self, model: &FabNet, device: &Device) -> Result<Option<FineTuneCheck>, String> {
        let after = (embed(model, device, &self.views.0).await?.0, embed(model, device, &self.views.1).await?.0);
        Ok(fine_tune_check(&self.fit, &self.test, self.before, after, self.untrained))
    }
}

/// The network's centre view of each frame (at most [`CHECK_FRAMES`], evenly spread) that the
/// detector finds a face in, with its five landmarks found in a view of at least 128 px.
async fn labelled_views(e: &Engine, tracks: &[Vec<RgbFrame>], size: usize) -> Result<(CheckFrames, Vec<Vec<f32>>), String> {
    let frames: Vec<&RgbFrame> = tracks.iter().flatten().collect();
    let every = frames.len().div_ceil(CHECK_FRAMES).max(1);
    let side = size.max(128);
    let (mut landmarks, mut views) = (Vec::new(), Vec::new());
    for frame in frames.into_iter().step_by(every) {
        let faces = e.detector.detect(&CropJitter::CENTRE.apply_rgb(frame, side)).await.map_err(|err| err.to_string())?;
        if let Some(face) = Detection::most_confident(&faces) {
            landmarks.push(face.landmarks.iter().flatten().copied().collect());
            views.push(CropJitter::CENTRE.apply(frame, size));
        }
    }
    Ok((CheckFrames { side: side as f32, landmarks }, views))
}
