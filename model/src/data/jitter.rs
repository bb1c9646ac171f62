//! The paper's crop and jitter (`VoxCelebData_withmask.py`): on a face crop scaled to 256 px,
//! pad (left 20, top 80, right 20, bottom 30), centre-crop 190 px, take a random 170-189 px
//! square inside it (without jitter: the centre 170 px), and scale that to the network's size.
//! The window is computed once in the crop's own pixels and sampled in one pass; padding reads
//! as black, as torchvision's `Pad`.

use crate::face::RgbFrame;

use super::hash::{below, hash};

const PAD_LEFT: f32 = 20.0;
const PAD_TOP: f32 = 80.0;
const PRECROP: f32 = 190.0;
const CROP: usize = 170;

/// Size and offset of the random square inside the 190 px centre crop, in 256-px units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropJitter {
    pub size: f32,
    pub dx: f32,
    pub dy: f32,
}

impl CropJitter {
    /// No jitter: the centre 170 px.
    pub const CENTRE: Self = Self { size: CROP as f32, dx: (PRECROP - CROP as f32) / 2.0, dy: (PRECROP - CROP as f32) / 2.0 };

    /// The side of every crop in `epoch` (170-189 px): the reference draws it once per epoch
    /// for the whole data set (`VoxCeleb2.__init__`, seeded by the epoch), so the target and
    /// sources of an example share one scale and the flow never has to model a zoom.
    pub fn epoch_size(seed: u64, epoch: u64) -> f32 {
        (CROP + below(hash(&[seed, epoch, 0xc409]), PRECROP as usize - CROP)) as f32
    }

    /// A square of side `size` at a random position inside the 190 px centre crop
    /// (torchvision's `RandomCrop`, drawn per image).
    pub fn random_at(size: f32, h: u64) -> Self {
        let room = PRECROP as usize - size as usize + 1;
        Self { size, dx: below(hash(&[h, 1]), room) as f32, dy: below(hash(&[h, 2]), room) as f32 }
    }

    /// The crop of a face-track frame (a whole VoxCeleb-like crop), resampled to `size` x
    /// `size`, planar RGB in [0, 1].
    pub fn apply(&self, frame: &RgbFrame, size: usize) -> Vec<f32> {
        self.apply_within(frame, 0.0, 0.0, frame.width as f32, frame.height as f32, size)
    }

    /// The same crop taken inside the window `(x0, y0, w, h)` of a larger frame that the
    /// VoxCeleb-like crop would have been cut from: one resampling instead of two (the app
    /// crops live video this way).
    pub fn apply_within(&self, frame: &RgbFrame, x0: f32, y0: f32, w: f32, h: f32, size: usize) -> Vec<f32> {
        let (x, y, sw, sh) = self.window(x0, y0, w, h);
        crate::face::crop::sample_window(frame, x, y, sw, sh, size)
    }

    /// The crop of a face-track frame as an 8-bit image (for a detector or an image file).
    pub fn apply_rgb(&self, frame: &RgbFrame, size: usize) -> RgbFrame {
        let (x, y, sw, sh) = self.window(0.0, 0.0, frame.width as f32, frame.height as f32);
        crate::face::crop::sample_window_rgb(frame, x, y, sw, sh, size)
    }

    /// Where the square lies in the frame window `(x0, y0, w, h)`: `(x, y, width, height)`.
    fn window(&self, x0: f32, y0: f32, w: f32, h: f32) -> (f32, f32, f32, f32) {
        // The padded 256 image is 296 x 366; its centre 190 px square starts at (53, 88).
        let (pw, ph) = (256.0 + 2.0 * PAD_LEFT, 256.0 + PAD_TOP + 30.0);
        let cx = (pw - PRECROP) / 2.0 + self.dx - PAD_LEFT;
        let cy = (ph - PRECROP) / 2.0 + self.dy - PAD_TOP;
        let (sx, sy) = (w / 256.0, h / 256.0);
        (x0 + cx * sx, y0 + cy * sy, self.size * sx, self.size * sy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_crop_sits_high_in_the_frame_and_jitter_stays_in_range() {
        // A 256 px frame, white where the centre crop should read: x 43..213, y 18..188.
        let mut pixels = vec![0u8; 256 * 256 * 3];
        for y in 18..188 {
            for x in 43..213 {
                pixels[(y * 256 + x) * 3..(y * 256 + x) * 3 + 3].copy_from_slice(&[255; 3]);
            }
        }
        let frame = RgbFrame::new(256, 256, pixels).unwrap();
        let crop = CropJitter::CENTRE.apply(&frame, 17);
        assert!(crop.iter().all(|&v| v > 0.99), "the centre crop is all white");
        let sizes: Vec<f32> = (0..40).map(|epoch| CropJitter::epoch_size(3, epoch)).collect();
        assert!(sizes.iter().all(|s| (170.0..190.0).contains(s) && s.fract() == 0.0), "{sizes:?}");
        assert!(sizes.windows(2).any(|w| w[0] != w[1]), "the size changes between epochs");
        for h in 0..200 {
            let j = CropJitter::random_at(sizes[h as usize % 40], h);
            assert!(j.dx + j.size <= 190.0 && j.dy + j.size <= 190.0);
        }
    }
}
