//! A decoded video frame or still: 8-bit RGB, row-major, as video decoders and the browser's
//! canvas hand them over.

#[derive(Debug, Clone, PartialEq)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    /// `height * width * 3` bytes, RGB interleaved.
    pub pixels: Vec<u8>,
}

impl RgbFrame {
    /// `None` when `pixels` does not hold `width * height` RGB pixels.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Option<Self> {
        (width > 0 && height > 0 && pixels.len() == width * height * 3).then_some(Self { width, height, pixels })
    }

    /// From RGBA (a canvas's `getImageData`), dropping alpha.
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Option<Self> {
        if rgba.len() != width * height * 4 {
            return None;
        }
        let pixels = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        Self::new(width, height, pixels)
    }

    /// Planar float copy `[3, h, w]` of the frame, values 0-255 (what the detector resamples).
    pub(crate) fn planar(&self) -> Vec<f32> {
        let plane = self.width * self.height;
        let mut out = vec![0.0; 3 * plane];
        for (i, px) in self.pixels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + i] = px[c] as f32;
            }
        }
        out
    }
}

/// PyTorch's `interpolate(mode="area")` (= `adaptive_avg_pool2d`) of planar channels: each
/// output pixel averages the input window `[floor(i*in/out), ceil((i+1)*in/out))`. MTCNN was
/// run with exactly this resampling, so the detector sees what the reference sees.
pub fn area_resize(planes: &[f32], channels: usize, h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    let window = |i: usize, input: usize, output: usize| (i * input / output, ((i + 1) * input).div_ceil(output));
    // Rows first, then columns: a mean over a rectangle is a mean of row means.
    let mut rows = vec![0.0f32; channels * out_h * w];
    for c in 0..channels {
        for oy in 0..out_h {
            let (a, b) = window(oy, h, out_h);
            let dst = &mut rows[(c * out_h + oy) * w..(c * out_h + oy + 1) * w];
            for y in a..b {
                let src = &planes[(c * h + y) * w..(c * h + y + 1) * w];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += s;
                }
            }
            let n = (b - a) as f32;
            dst.iter_mut().for_each(|d| *d /= n);
        }
    }
    let mut out = vec![0.0f32; channels * out_h * out_w];
    for row in 0..channels * out_h {
        let src = &rows[row * w..(row + 1) * w];
        for ox in 0..out_w {
            let (a, b) = window(ox, w, out_w);
            out[row * out_w + ox] = src[a..b].iter().sum::<f32>() / (b - a) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_averages_windows() {
        // 1 channel, 2x4 -> 1x2: means of the left and right 2x2 blocks.
        let planes = [1.0, 3.0, 10.0, 20.0, 5.0, 7.0, 30.0, 40.0];
        assert_eq!(area_resize(&planes, 1, 2, 4, 1, 2), vec![4.0, 25.0]);
        // 3 -> 2 overlaps the middle pixel: windows [0, 2) and [1, 3).
        assert_eq!(area_resize(&[0.0, 6.0, 12.0], 1, 1, 3, 1, 2), vec![3.0, 9.0]);
    }
}
