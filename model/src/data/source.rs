//! Where a training session's frames come from, and batches assembled from them on the host.
//! Face-track folders decode JPEGs on the fly (native); the browser holds its tracks in memory.
//! Both go through the same sampler and the same assembly.

use std::ops::Range;
use std::sync::Arc;

use crate::face::RgbFrame;

use super::jitter::CropJitter;
use super::sampler::{Sampler, TrackIndex};

/// Frames of face tracks, cropped on request.
pub trait FrameSource: Send + Sync {
    fn index(&self) -> &TrackIndex;
    /// Frame `frame` of track `track` with `crop`, at `size` x `size`, planar RGB in [0, 1];
    /// `None` when the track cannot give one (every frame of it unreadable).
    fn view(&self, track: usize, frame: usize, crop: &CropJitter, size: usize) -> Option<Vec<f32>>;
}

/// One batch on the host: planar RGB in [0, 1], `[B, 3, S, S]` flattened per view.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    pub size: usize,
    pub image_size: usize,
    pub target: Vec<f32>,
    /// One buffer per source view.
    pub sources: Vec<Vec<f32>>,
}

/// Makes batch `b` of an epoch, on any thread; `None` when the data ran out.
pub type MakeBatch = Arc<dyn Fn(u64) -> Option<HostBatch> + Send + Sync>;

/// Examples `indices` of `epoch`, assembled into one batch. An example whose track is
/// unreadable gives way to a redraw, deterministically; `None` when eight draws in a row fail.
pub fn assemble(source: &dyn FrameSource, sampler: &Sampler, epoch: u64, indices: Range<u64>, image_size: usize) -> Option<HostBatch> {
    let views = sampler.views + 1;
    let count = (indices.end - indices.start) as usize;
    let mut buffers = vec![Vec::with_capacity(count * 3 * image_size * image_size); views];
    for i in indices {
        let example = (0..8u64).find_map(|attempt| {
            let spec = sampler.example(source.index(), epoch, i | (attempt << 48));
            spec.frames.iter().zip(&spec.crops).map(|(&f, crop)| source.view(spec.track, f, crop, image_size)).collect::<Option<Vec<_>>>()
        })?;
        for (buffer, view) in buffers.iter_mut().zip(example) {
            buffer.extend(view);
        }
    }
    let target = buffers.remove(0);
    Some(HostBatch { size: count, image_size, target, sources: buffers })
}

/// Face tracks held in memory (the browser's clips). Each track counts as its own identity:
/// nothing says who is who.
pub struct MemoryTracks {
    tracks: Vec<Vec<RgbFrame>>,
    index: TrackIndex,
}

impl MemoryTracks {
    pub fn new(tracks: Vec<Vec<RgbFrame>>) -> Self {
        let index = TrackIndex::new(&(0..tracks.len()).collect::<Vec<_>>(), tracks.iter().map(Vec::len).collect());
        Self { tracks, index }
    }

    pub fn tracks(&self) -> &[Vec<RgbFrame>] {
        &self.tracks
    }
}

impl FrameSource for MemoryTracks {
    fn index(&self) -> &TrackIndex {
        &self.index
    }

    fn view(&self, track: usize, frame: usize, crop: &CropJitter, size: usize) -> Option<Vec<f32>> {
        Some(crop.apply(self.tracks.get(track)?.get(frame)?, size))
    }
}
