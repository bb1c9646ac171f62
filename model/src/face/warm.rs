//! Compiling the detector's GPU kernels before they are needed. On WebGPU each kernel is
//! compiled the first time it runs (each layer, at each shape it meets): seconds in all on a
//! software adapter, which a user would otherwise wait through on the first webcam frame or
//! the first clip. Each pass run once on zeros while the page loads takes that wait early,
//! one short pass at a time, so nothing else waits long behind it.

use super::detect::{DetectError, DetectParams, Detector};

/// One forward pass of the cascade, at the shape a real frame gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum WarmPass {
    /// P-Net on one level of the pyramid.
    PNet { height: usize, width: usize },
    /// R-Net on this many 24x24 crops.
    RNet { batch: usize },
    /// O-Net on this many 48x48 crops (following a face is one).
    ONet { batch: usize },
}

/// A frame size the detector will see, and whether it is a live camera's (the shorter
/// pyramid of [`DetectParams::live`]) or a video's (the full one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameKind {
    pub width: usize,
    pub height: usize,
    pub live: bool,
}

const REFINE_BATCHES: [usize; 3] = [1, 2, 4];

/// Every pass the cascade makes on frames of these kinds, each once, pyramid levels first.
pub fn passes(params: &DetectParams, frames: &[FrameKind]) -> Vec<WarmPass> {
    let mut out = Vec::new();
    for f in frames {
        let params = if f.live { params.live(f.width, f.height) } else { *params };
        for (_, height, width) in Detector::levels(&params, f.width, f.height) {
            out.push(WarmPass::PNet { height, width });
        }
    }
    // The number of crops picks kernel variants too (vectorised by what it divides), so the
    // refining nets run at counts of each kind: odd, twice odd, a multiple of four.
    out.extend(REFINE_BATCHES.map(|batch| WarmPass::RNet { batch }));
    out.extend(REFINE_BATCHES.map(|batch| WarmPass::ONet { batch }));
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(*p));
    out
}

impl Detector {
    /// Runs one pass on zeros, as detection runs it (a kernel is compiled when it runs).
    pub async fn warm_up(&self, pass: WarmPass) -> Result<(), DetectError> {
        match pass {
            WarmPass::PNet { height, width } => self.pnet_pass(vec![0.0; 3 * height * width], height, width).await.map(drop),
            WarmPass::RNet { batch } => self.rnet_pass(vec![0.0; batch * 3 * 24 * 24], batch).await.map(drop),
            WarmPass::ONet { batch } => self.onet_pass(vec![0.0; batch * 3 * 48 * 48], batch).await.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passes_are_the_pyramids_levels_then_the_refining_nets_each_once() {
        let params = DetectParams::default();
        let live = FrameKind { width: 480, height: 360, live: true };
        let video = FrameKind { width: 480, height: 270, live: false };
        let plan = passes(&params, &[live, live]);
        let levels = Detector::levels(&params.live(480, 360), 480, 360);
        assert_eq!(plan.len(), levels.len() + 6, "{plan:?}");
        // The live pyramid starts with faces of 60 px (a sixth of 360): 480 x 360 at 12/60.
        assert_eq!(plan[0], WarmPass::PNet { height: 73, width: 97 });
        assert_eq!(plan[levels.len()], WarmPass::RNet { batch: 1 });
        assert_eq!(plan[plan.len() - 1], WarmPass::ONet { batch: 4 });
        // A video's pyramid reaches down to 20 px faces: more and larger levels.
        let both = passes(&params, &[live, video]);
        let video_levels = Detector::levels(&params, 480, 270).len();
        assert!(video_levels > levels.len());
        assert_eq!(both.len(), levels.len() + video_levels + 6);
        assert!(both.contains(&WarmPass::PNet { height: 163, width: 289 }), "{both:?}");
    }
}
