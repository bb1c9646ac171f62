//! Crop geometry: from a detected face box to a square, VoxCeleb-like training frame.
//!
//! VoxCeleb's face tracks (what the paper trained on) frame the whole head loosely: the face
//! sits a little above the centre with hair and neck in view. With MTCNN's tight box (brows to
//! chin) of side `b`, we take a square of side `scale * b` (default 2.2) whose centre is
//! `shift_y * b` (default 0.1) below the box centre, and fill what falls outside the frame
//! with black. The paper's loader then pads (20, 80, 20, 30), centre-crops 170 of 256 px and
//! jitters (`VoxCelebData_withmask.py`); on these crops that leaves the face at about 70% of
//! the network's view, as on VoxCeleb.

use super::boxes::BoundingBox;
use super::frame::RgbFrame;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CropGeometry {
    /// Crop side over face-box side.
    pub scale: f32,
    /// Downward shift of the crop centre, in face-box sides.
    pub shift_y: f32,
    /// Output side in pixels (VoxCeleb1's released crops are 224).
    pub size: usize,
}

impl Default for CropGeometry {
    fn default() -> Self {
        Self { scale: 2.2, shift_y: 0.1, size: 224 }
    }
}

/// A square window in frame pixels: centre and side.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CropWindow {
    pub cx: f32,
    pub cy: f32,
    pub side: f32,
}

impl CropGeometry {
    pub fn window(&self, face: &BoundingBox) -> CropWindow {
        let b = face.width().max(face.height());
        let (cx, cy) = face.center();
        CropWindow { cx, cy: cy + self.shift_y * b, side: self.scale * b }
    }

    /// The window resampled to `size` x `size`.
    pub fn crop(&self, frame: &RgbFrame, window: &CropWindow) -> RgbFrame {
        let (x0, y0) = (window.cx - window.side / 2.0, window.cy - window.side / 2.0);
        sample_window_rgb(frame, x0, y0, window.side, window.side, self.size)
    }
}

/// The window `(x0, y0, w, h)` of `frame` (pixel edges) as an `n` x `n` image, planar RGB
/// in [0, 1], as the network takes it.
pub fn sample_window(frame: &RgbFrame, x0: f32, y0: f32, w: f32, h: f32, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; 3 * n * n];
    resample(frame, x0, y0, w, h, n, |ox, oy, rgb| {
        for c in 0..3 {
            out[c * n * n + oy * n + ox] = rgb[c] / 255.0;
        }
    });
    out
}

/// The same window as an 8-bit `n` x `n` frame (what a detector or an image file takes).
pub fn sample_window_rgb(frame: &RgbFrame, x0: f32, y0: f32, w: f32, h: f32, n: usize) -> RgbFrame {
    let mut pixels = vec![0u8; n * n * 3];
    resample(frame, x0, y0, w, h, n, |ox, oy, rgb| {
        for c in 0..3 {
            pixels[(oy * n + ox) * 3 + c] = rgb[c].round().clamp(0.0, 255.0) as u8;
        }
    });
    RgbFrame { width: n, height: n, pixels }
}

/// Bilinear resampling of a window to `n` x `n`, averaging several samples per output pixel
/// when shrinking so that large faces do not alias.
fn resample(frame: &RgbFrame, x0: f32, y0: f32, w: f32, h: f32, n: usize, mut put: impl FnMut(usize, usize, [f32; 3])) {
    let (step_x, step_y) = (w / n as f32, h / n as f32);
    let (taps_x, taps_y) = (step_x.ceil().max(1.0) as usize, step_y.ceil().max(1.0) as usize);
    let k = (taps_x * taps_y) as f32;
    for oy in 0..n {
        for ox in 0..n {
            let mut acc = [0.0f32; 3];
            for ty in 0..taps_y {
                for tx in 0..taps_x {
                    // Sample centres spread evenly over the output pixel's footprint.
                    let sx = x0 + (ox as f32 + (tx as f32 + 0.5) / taps_x as f32) * step_x - 0.5;
                    let sy = y0 + (oy as f32 + (ty as f32 + 0.5) / taps_y as f32) * step_y - 0.5;
                    let px = bilinear(frame, sx, sy);
                    acc.iter_mut().zip(px).for_each(|(a, p)| *a += p);
                }
            }
            put(ox, oy, acc.map(|a| a / k));
        }
    }
}

/// Bilinear sample at pixel-centre coordinates; black outside the frame.
fn bilinear(frame: &RgbFrame, x: f32, y: f32) -> [f32; 3] {
    let (fx, fy) = (x.floor(), y.floor());
    let (ax, ay) = (x - fx, y - fy);
    let mut out = [0.0; 3];
    for (dy, wy) in [(0, 1.0 - ay), (1, ay)] {
        for (dx, wx) in [(0, 1.0 - ax), (1, ax)] {
            let (sx, sy) = (fx as i64 + dx, fy as i64 + dy);
            if sx < 0 || sy < 0 || sx >= frame.width as i64 || sy >= frame.height as i64 {
                continue;
            }
            let i = (sy as usize * frame.width + sx as usize) * 3;
            for (o, &p) in out.iter_mut().zip(&frame.pixels[i..i + 3]) {
                *o += wx * wy * p as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_of_the_whole_frame_keeps_it_and_pads_black_outside() {
        // A 4x4 frame, left half white: cropping exactly the frame gives the frame back.
        let pixels = (0..16).flat_map(|i| if i % 4 < 2 { [255u8; 3] } else { [0; 3] }).collect();
        let frame = RgbFrame::new(4, 4, pixels).unwrap();
        let geometry = CropGeometry { scale: 1.0, shift_y: 0.0, size: 4 };
        let same = geometry.crop(&frame, &CropWindow { cx: 2.0, cy: 2.0, side: 4.0 });
        assert_eq!(same, frame);
        // Twice as wide a window, shrunk to 4 px: the frame fills the middle, black around.
        let padded = geometry.crop(&frame, &CropWindow { cx: 2.0, cy: 2.0, side: 8.0 });
        assert_eq!(&padded.pixels[0..3], &[0, 0, 0]);
        assert_eq!(padded.pixels[(4 + 1) * 3], 255);
    }

    #[test]
    fn window_frames_the_face_loosely_and_a_little_low() {
        let face = BoundingBox { x1: 100.0, y1: 100.0, x2: 150.0, y2: 160.0, score: 1.0 };
        let w = CropGeometry::default().window(&face);
        assert_eq!((w.cx, w.cy, w.side), (125.0, 136.0, 132.0));
    }
}
