//! Which frames make each example, decided by a hash of (seed, epoch, index) alone: no RNG
//! state to save, so a resumed run draws exactly the examples the interrupted one would have.

#[cfg(feature = "native")]
use super::folders::FaceTracks;
pub use super::hash::{below, hash};
use super::jitter::CropJitter;

/// One example: a target frame and `sources` frames of the same track, each with its crop.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleSpec {
    pub track: usize,
    /// Frame indices within the track: the target first, then the sources.
    pub frames: Vec<usize>,
    pub crops: Vec<CropJitter>,
}

pub struct Sampler {
    pub seed: u64,
    pub views: usize,
    pub jitter: bool,
}

/// The tracks of each identity and the length of each track: what the sampler draws from.
/// Built once per dataset, so that drawing an example costs nothing per track.
pub struct TrackIndex {
    /// Track numbers of each identity, in ascending order.
    by_identity: Vec<Vec<usize>>,
    lengths: Vec<usize>,
}

impl TrackIndex {
    /// `identity[t]` numbers the person of track `t` (`0..k`, every value used); `lengths[t]` is
    /// its frame count.
    pub fn new(identity: &[usize], lengths: Vec<usize>) -> Self {
        let mut by_identity = vec![Vec::new(); identity.iter().max().map_or(0, |m| m + 1)];
        for (track, &id) in identity.iter().enumerate() {
            by_identity[id].push(track);
        }
        Self { by_identity, lengths }
    }

    /// A folder dataset's tracks; identities are numbered in order of first appearance.
    #[cfg(feature = "native")]
    pub fn of(tracks: &FaceTracks) -> Self {
        let mut numbers = std::collections::HashMap::new();
        let identity: Vec<usize> = tracks
            .tracks
            .iter()
            .map(|t| {
                let next = numbers.len();
                *numbers.entry(t.identity.as_str()).or_insert(next)
            })
            .collect();
        Self::new(&identity, tracks.tracks.iter().map(|t| t.frames.len()).collect())
    }
}

impl Sampler {
    /// Example `index` of `epoch`: an identity uniformly (as the paper's loader), then one of
    /// its tracks, then distinct frames (repeated only when the track is too short). The
    /// browser, which holds its tracks in memory, samples through this too.
    pub fn example(&self, tracks: &TrackIndex, epoch: u64, index: u64) -> ExampleSpec {
        let h = |k: u64| hash(&[self.seed, epoch, index, k]);
        let of_id = &tracks.by_identity[below(h(0), tracks.by_identity.len())];
        let track = of_id[below(h(1), of_id.len())];
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
        let sampler = Sampler { seed: 11, views: 3, jitter: true };
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
}
