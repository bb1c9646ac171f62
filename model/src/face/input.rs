//! A face as the network sees it, from a frame and a face box: the crop `fabnet prepare` makes
//! (what training samples from), at a size that keeps real pixels under the network's centre
//! crop, then that centre crop as planar RGB. The webcam, the app's clips and the benchmark
//! share it, so a live face is framed as the training faces were.

use super::{BoundingBox, CropGeometry, RgbFrame};
use crate::data::CropJitter;

/// Side of the stored face crops for a network of input side `input`: the network sees the
/// centre 170/256 of a crop, so this keeps real pixels under it (128 px at the 64 px presets,
/// a quarter of `fabnet prepare`'s 224 px memory; more for bigger networks).
pub fn crop_size(input: usize) -> usize {
    (input * 256).div_ceil(170).next_multiple_of(8).max(128)
}

/// The crop geometry of [`crop_size`], otherwise `fabnet prepare`'s.
pub fn geometry(input: usize) -> CropGeometry {
    CropGeometry { size: crop_size(input), ..CropGeometry::default() }
}

/// The face as `fabnet prepare` frames it, for a network of input side `input`.
pub fn face_crop(frame: &RgbFrame, face: &BoundingBox, input: usize) -> RgbFrame {
    let geometry = geometry(input);
    geometry.crop(frame, &geometry.window(face))
}

/// The network's input for a face crop: the centre crop, planar RGB in [0, 1], `size` x
/// `size`, rounded to 8 bits so that its PNG thumbnail is exactly what was embedded (and
/// `fabnet embed` on that PNG gives the same embedding).
pub fn network_input(crop: &RgbFrame, size: usize) -> Vec<f32> {
    CropJitter::CENTRE.apply(crop, size).into_iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_keep_real_pixels_under_the_centre_crop() {
        assert_eq!(crop_size(64), 128);
        // 256 px networks see 170/256 of a 392 px crop: at least 256 real pixels.
        assert!(crop_size(256) * 170 / 256 >= 256);
    }

    #[test]
    fn the_input_is_planar_rgb_of_the_network_size_in_8_bit_steps() {
        let frame = RgbFrame::new(320, 240, (0..320 * 240 * 3).map(|i| (i % 251) as u8).collect()).unwrap();
        let face = BoundingBox { x1: 100.0, y1: 60.0, x2: 200.0, y2: 180.0, score: 1.0 };
        let input = network_input(&face_crop(&frame, &face, 64), 64);
        assert_eq!(input.len(), 3 * 64 * 64);
        assert!(input.iter().all(|v| (0.0..=1.0).contains(v) && ((v * 255.0).round() - v * 255.0).abs() < 1e-4));
    }
}
