//! Which frames make each example, decided by a hash of (seed, epoch, index) alone: no RNG
//! state to save, so a resumed run draws exactly the examples the interrupted one would have.

pub use super::hash::{below, hash};
#[cfg(feature = "native")]
use super::folders::FaceTracks;
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

impl Sampler {
    /// Example `index` of `epoch` from a folder dataset (see [`Sampler::example_in`]).
    #[cfg(feature = "native")]
    pub fn example(&self, tracks: &FaceTracks, epoch: u64, index: u64) -> ExampleSpec {
        let names = tracks.identities();
        let identity: Vec<usize> = tracks
            .tracks
            .iter()
            .map(|t| names.iter().position(|n| *n == t.identity).expect("identity of a listed track"))
            .collect();
        let lengths: Vec<usize> = tracks.tracks.iter().map(|t| t.frames.len()).collect();
        self.example_in(&identity, &lengths, epoch, index)
    }

    /// Example `index` of `epoch` from tracks described by their identity (`0..k`, every value
    /// used) and length: an identity uniformly (as the paper's loader), then one of its tracks,
    /// then distinct frames (repeated only when the track is too short). The browser, which
    /// holds its tracks in memory, samples through this too.
    pub fn example_in(&self, identity: &[usize], lengths: &[usize], epoch: u64, index: u64) -> ExampleSpec {
        let h = |k: u64| hash(&[self.seed, epoch, index, k]);
        let identities = identity.iter().max().map_or(0, |m| m + 1);
        let id = below(h(0), identities);
        let of_id: Vec<usize> = (0..identity.len()).filter(|&t| identity[t] == id).collect();
        let track = of_id[below(h(1), of_id.len())];
        let n = lengths[track];
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
        let crops = (0..=self.views as u64)
            .map(|v| if self.jitter { CropJitter::random(h(100 + v)) } else { CropJitter::CENTRE })
            .collect();
        ExampleSpec { track, frames, crops }
    }
}
