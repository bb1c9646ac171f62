//! Which frames make each example, decided by a hash of (seed, epoch, index) alone: no RNG
//! state to save, so a resumed run draws exactly the examples the interrupted one would have.

use serde::{Deserialize, Serialize};

#[cfg(feature = "native")]
use super::folders::FaceTracks;
pub use super::hash::{below, hash, permute};
use super::jitter::CropJitter;

/// One example: a target frame and `sources` frames of the same track, each with its crop.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleSpec {
    pub track: usize,
    /// Frame indices within the track: the target first, then the sources.
    pub frames: Vec<usize>,
    pub crops: Vec<CropJitter>,
}

/// How the identities of an epoch are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpochOrder {
    /// The reference's epoch (`VoxCeleb2` with `shuffle=True`): every identity once, in a fresh
    /// random order each epoch; example `i` is the `i`-th identity of that order.
    EachIdentityOnce,
    /// Identities drawn uniformly, with replacement, for as many examples as the caller wants
    /// (epochs of a fixed number of batches, for data with few identities).
    Uniform,
}

pub struct Sampler {
    pub seed: u64,
    pub views: usize,
    pub jitter: bool,
    pub order: EpochOrder,
}

/// The identities, their videos and tracks, and the length of each track: what the sampler
/// draws from. Built once per dataset, so that drawing an example costs nothing per track.
pub struct TrackIndex {
    /// Per identity, per video, the track numbers, in ascending order.
    by_identity: Vec<Vec<Vec<usize>>>,
    lengths: Vec<usize>,
}

impl TrackIndex {
    /// `identity[t]` numbers the person of track `t` (`0..k`, every value used); `lengths[t]` is
    /// its frame count. Every track counts as its own video.
    pub fn new(identity: &[usize], lengths: Vec<usize>) -> Self {
        let videos: Vec<usize> = (0..identity.len()).collect();
        Self::with_videos(identity, &videos, lengths)
    }

    /// As [`TrackIndex::new`], with `video[t]` numbering the video of track `t` (tracks of one
    /// video share a number).
    pub fn with_videos(identity: &[usize], video: &[usize], lengths: Vec<usize>) -> Self {
        let mut by_identity: Vec<Vec<(usize, Vec<usize>)>> = vec![Vec::new(); identity.iter().max().map_or(0, |m| m + 1)];
        for (track, (&id, &v)) in identity.iter().zip(video).enumerate() {
            let videos = &mut by_identity[id];
            match videos.iter_mut().find(|(number, _)| *number == v) {
                Some((_, tracks)) => tracks.push(track),
                None => videos.push((v, vec![track])),
            }
        }
        Self { by_identity: by_identity.into_iter().map(|vs| vs.into_iter().map(|(_, t)| t).collect()).collect(), lengths }
    }

    /// A folder dataset's tracks; identities and videos (`IDENTITY/VIDEO/TRACK`) are numbered
    /// in order of first appearance.
    #[cfg(feature = "native")]
    pub fn of(tracks: &FaceTracks) -> Self {
        let mut identities = std::collections::HashMap::new();
        let mut videos = std::collections::HashMap::new();
        let (mut identity, mut video) = (Vec::new(), Vec::new());
        for t in &tracks.tracks {
            let next = identities.len();
            identity.push(*identities.entry(t.identity.as_str()).or_insert(next));
            let next = videos.len();
            video.push(*videos.entry(t.path.parent().map(|p| p.to_path_buf())).or_insert(next));
        }
        Self::with_videos(&identity, &video, tracks.tracks.iter().map(|t| t.frames.len()).collect())
    }

    pub fn identities(&self) -> usize {
        self.by_identity.len()
    }

    pub fn tracks(&self) -> usize {
        self.lengths.len()
    }
}

impl Sampler {
    /// How many examples an epoch has: one per identity in the reference's order, `None` (as
    /// many as asked for) when identities are drawn uniformly.
    pub fn epoch_examples(&self, tracks: &TrackIndex) -> Option<u64> {
        match self.order {
            EpochOrder::EachIdentityOnce => Some(tracks.identities() as u64),
            EpochOrder::Uniform => None,
        }
    }

    /// Example `index` of `epoch`: an identity (see [`EpochOrder`]), then one of its videos,
    /// then one of that video's tracks, as the reference's loader, then distinct frames
    /// (repeated only when the track is too short). The browser, which holds its tracks in
    /// memory, samples through this too.
    pub fn example(&self, tracks: &TrackIndex, epoch: u64, index: u64) -> ExampleSpec {
        let h = |k: u64| hash(&[self.seed, epoch, index, k]);
        let k = tracks.by_identity.len();
        let identity = match self.order {
            EpochOrder::EachIdentityOnce => permute(index % k as u64, k as u64, &[self.seed, epoch, 0x1d]) as usize,
            EpochOrder::Uniform => below(h(0), k),
        };
        let videos = &tracks.by_identity[identity];
        let of_video = &videos[below(h(1), videos.len())];
        let track = of_video[below(h(99), of_video.len())];
        let n = tracks.lengths[track];
        let mut frames: Vec<usize> = Vec::with_capacity(self.views + 1);
        for v in 0..=self.views as u64 {
            let mut f = below(h(2 + v), n);
            // Distinct frames while the track has enough: probe forward from the draw.
            let mut tries = 0;
            while frames.contains(&f) && tries < n {
                f = (f + 1) % n;
                tries += 1;
            }
            frames.push(f);
        }
        let size = CropJitter::epoch_size(self.seed, epoch);
        let crops = (0..=self.views as u64).map(|v| if self.jitter { CropJitter::random_at(size, h(100 + v)) } else { CropJitter::CENTRE }).collect();
        ExampleSpec { track, frames, crops }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_epoch_crops_every_view_at_one_size_and_the_size_moves_between_epochs() {
        let tracks = TrackIndex::new(&[0, 0, 1], vec![30, 12, 50]);
        let sampler = Sampler { seed: 11, views: 3, jitter: true, order: EpochOrder::Uniform };
        let sizes_of = |epoch: u64| -> Vec<f32> { (0..64).flat_map(|i| sampler.example(&tracks, epoch, i).crops).map(|c| c.size).collect() };
        let per_epoch: Vec<f32> = (0..12)
            .map(|epoch| {
                let sizes = sizes_of(epoch);
                assert!(sizes.iter().all(|&s| s == sizes[0]), "epoch {epoch}: {sizes:?}");
                sizes[0]
            })
            .collect();
        assert!(per_epoch.windows(2).any(|w| w[0] != w[1]), "{per_epoch:?}");
        // The positions still differ from view to view.
        let example = sampler.example(&tracks, 0, 5);
        assert!(example.crops.windows(2).any(|w| (w[0].dx, w[0].dy) != (w[1].dx, w[1].dy)), "{example:?}");
    }

    #[test]
    fn the_reference_epoch_takes_every_identity_once_in_an_order_that_changes() {
        // Identities 0..5; identity 2 has two videos (tracks 2, 3 and track 4), the others one.
        let identity = [0, 1, 2, 2, 2, 3, 4];
        let video = [0, 1, 2, 2, 3, 4, 5];
        let tracks = TrackIndex::with_videos(&identity, &video, vec![10; 7]);
        let sampler = Sampler { seed: 3, views: 1, jitter: false, order: EpochOrder::EachIdentityOnce };
        assert_eq!(sampler.epoch_examples(&tracks), Some(5));
        let identity_of = |track: usize| identity[track];
        let order = |epoch| (0..5).map(|i| identity_of(sampler.example(&tracks, epoch, i).track)).collect::<Vec<_>>();
        let (first, second) = (order(0), order(1));
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4], "{first:?}");
        assert_ne!(first, second, "a fresh order each epoch");
        // Identity 2 picks a video first, then a track: over many epochs track 4 (a video of
        // its own) comes up about half the time, not a third.
        let draws: Vec<usize> = (0..400).map(|e| (0..5).map(|i| sampler.example(&tracks, e, i).track).find(|t| identity_of(*t) == 2).unwrap()).collect();
        let video_alone = draws.iter().filter(|&&t| t == 4).count();
        assert!((150..250).contains(&video_alone), "{video_alone} of 400");
    }
}
