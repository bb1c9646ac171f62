//! Decoding batches ahead of the device on worker threads. Worker `w` builds batches `w`,
//! `w + W`, `w + 2W`, ... and hands each over through its own channel of two slots, so at most
//! `2W` batches wait in memory and they arrive in order whatever the threads' timing.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::face::RgbFrame;

use super::folders::FaceTracks;
use super::sampler::{Sampler, TrackIndex};

/// One batch on the host: planar RGB in [0, 1], `[B, 3, S, S]` flattened per view.
pub struct HostBatch {
    pub size: usize,
    pub image_size: usize,
    pub target: Vec<f32>,
    /// One buffer per source view.
    pub sources: Vec<Vec<f32>>,
}

/// Frames that could not be decoded, each counted once.
#[derive(Default)]
pub struct BadFrames(Mutex<HashSet<PathBuf>>);

impl BadFrames {
    pub fn count(&self) -> usize {
        self.0.lock().map(|s| s.len()).unwrap_or(0)
    }
    fn add(&self, path: &PathBuf) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(path.clone());
        }
    }
}

pub struct Loader {
    receivers: Vec<Receiver<HostBatch>>,
    next: usize,
    handles: Vec<JoinHandle<()>>,
}

/// What to load: `batches` batches of `batch_size` examples of `epoch`, from batch `first` on.
pub struct LoadPlan {
    pub epoch: u64,
    pub first: u64,
    pub batches: u64,
    pub batch_size: usize,
    pub image_size: usize,
    pub workers: usize,
}

fn decode(path: &PathBuf) -> Option<RgbFrame> {
    let img = image::open(path).ok()?.to_rgb8();
    RgbFrame::new(img.width() as usize, img.height() as usize, img.into_raw())
}

/// The example's frames, cropped; a frame that fails to decode is replaced by the next good
/// one of its track; `None` when the whole track is unreadable.
fn load_example(
    tracks: &FaceTracks,
    track_index: &TrackIndex,
    sampler: &Sampler,
    epoch: u64,
    index: u64,
    image_size: usize,
    bad: &BadFrames,
) -> Option<Vec<Vec<f32>>> {
    let spec = sampler.example(track_index, epoch, index);
    let track = &tracks.tracks[spec.track];
    let n = track.frames.len();
    let mut views = Vec::with_capacity(spec.frames.len());
    for (f, crop) in spec.frames.iter().zip(&spec.crops) {
        let frame = (0..n).map(|k| &track.frames[(f + k) % n]).find_map(|path| {
            let frame = decode(path);
            if frame.is_none() {
                bad.add(path);
            }
            frame
        })?;
        views.push(crop.apply(&frame, image_size));
    }
    Some(views)
}

impl Loader {
    pub fn start(tracks: Arc<FaceTracks>, sampler: Arc<Sampler>, plan: LoadPlan, bad: Arc<BadFrames>) -> Self {
        let workers = plan.workers.max(1);
        // Built once per epoch's loader, not per example.
        let track_index = Arc::new(TrackIndex::of(&tracks));
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for w in 0..workers as u64 {
            let (tx, rx) = sync_channel::<HostBatch>(2);
            receivers.push(rx);
            let (tracks, track_index, sampler, bad) = (tracks.clone(), track_index.clone(), sampler.clone(), bad.clone());
            let LoadPlan { epoch, first, batches, batch_size, image_size, .. } = plan;
            handles.push(std::thread::spawn(move || {
                let mut b = first + w;
                while b < first + batches {
                    let views = sampler.views + 1;
                    let mut buffers = vec![Vec::with_capacity(batch_size * 3 * image_size * image_size); views];
                    for i in 0..batch_size as u64 {
                        // An unreadable track gives way to a redraw, deterministically.
                        let example = (0..8u64).find_map(|attempt| {
                            let index = (b * batch_size as u64 + i) | (attempt << 48);
                            load_example(&tracks, &track_index, &sampler, epoch, index, image_size, &bad)
                        });
                        let Some(example) = example else { return };
                        for (buffer, view) in buffers.iter_mut().zip(example) {
                            buffer.extend(view);
                        }
                    }
                    let target = buffers.remove(0);
                    let batch = HostBatch { size: batch_size, image_size, target, sources: buffers };
                    if tx.send(batch).is_err() {
                        return; // The loader was dropped.
                    }
                    b += workers as u64;
                }
            }));
        }
        Self { receivers, next: 0, handles }
    }
}

impl Iterator for Loader {
    type Item = HostBatch;

    /// The next batch in order; `None` when the plan is done or data ran out.
    fn next(&mut self) -> Option<HostBatch> {
        let batch = self.receivers[self.next % self.receivers.len()].recv().ok()?;
        self.next += 1;
        Some(batch)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
