//! Decoding batches ahead of the device on worker threads. Worker `w` builds batches `w`,
//! `w + W`, `w + 2W`, ... and hands each over through its own channel of two slots, so at most
//! `2W` batches wait in memory and they arrive in order whatever the threads' timing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::face::RgbFrame;

use super::folders::FaceTracks;
use super::jitter::CropJitter;
use super::sampler::TrackIndex;
use super::source::{FrameSource, HostBatch, MakeBatch};

/// Frames that could not be decoded, each counted once.
#[derive(Default)]
pub struct BadFrames(Mutex<HashSet<PathBuf>>);

impl BadFrames {
    pub fn count(&self) -> usize {
        self.0.lock().map(|s| s.len()).unwrap_or(0)
    }
    fn add(&self, path: &Path) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(path.to_path_buf());
        }
    }
}

/// Face-track folders as a [`FrameSource`]: frames are decoded when drawn; a frame that fails
/// to decode is counted and replaced by the next good one of its track.
pub struct FolderSource {
    pub tracks: FaceTracks,
    index: TrackIndex,
    pub bad: Arc<BadFrames>,
}

impl FolderSource {
    pub fn new(tracks: FaceTracks, bad: Arc<BadFrames>) -> Self {
        Self { index: TrackIndex::of(&tracks), tracks, bad }
    }
}

fn decode(path: &PathBuf) -> Option<RgbFrame> {
    let img = image::open(path).ok()?.to_rgb8();
    RgbFrame::new(img.width() as usize, img.height() as usize, img.into_raw())
}

impl FrameSource for FolderSource {
    fn index(&self) -> &TrackIndex {
        &self.index
    }

    fn view(&self, track: usize, frame: usize, crop: &CropJitter, size: usize) -> Option<Vec<f32>> {
        let track = &self.tracks.tracks[track];
        let n = track.frames.len();
        let frame = (0..n).map(|k| &track.frames[(frame + k) % n]).find_map(|path| {
            let frame = decode(path);
            if frame.is_none() {
                self.bad.add(path);
            }
            frame
        })?;
        Some(crop.apply(&frame, size))
    }
}

pub struct Loader {
    receivers: Vec<Receiver<HostBatch>>,
    next: usize,
    handles: Vec<JoinHandle<()>>,
}

impl Loader {
    /// Batches `first..first + count`, made by `make` on `workers` threads.
    pub fn start(make: MakeBatch, first: u64, count: u64, workers: usize) -> Self {
        let workers = workers.max(1) as u64;
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for w in 0..workers {
            let (tx, rx) = sync_channel::<HostBatch>(2);
            receivers.push(rx);
            let make = make.clone();
            handles.push(std::thread::spawn(move || {
                let mut b = first + w;
                while b < first + count {
                    let Some(batch) = make(b) else { return };
                    if tx.send(batch).is_err() {
                        return; // The loader was dropped.
                    }
                    b += workers;
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
