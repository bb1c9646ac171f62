//! Which decoded frames a clip sampled at `fps` keeps: at each sampling time, the frame on
//! screen then (the last one shown at or before it), as seeking a `<video>` there would show.

/// The longest video sampled.
const MAX_SECONDS: f64 = 24.0 * 3600.0;

/// Sampling times k / fps (from the first frame) over the video, each given the frame on
/// screen at that time; frames come out of a decoder in presentation order, so the caller asks
/// once per decoded frame how many samples it makes.
#[derive(Clone, Debug)]
pub struct Sampling {
    /// Shown frames' timestamps (µs), ascending, and how many samples each makes.
    frames: Vec<(i64, usize)>,
    /// Frames at or before this index were answered already.
    asked: usize,
}

impl Sampling {
    /// `presentation`: the shown frames' timestamps, ascending; `duration_s`: to the last one's end.
    pub fn new(presentation: &[i64], duration_s: f64, fps: f64) -> Self {
        let mut frames: Vec<(i64, usize)> = presentation.iter().map(|&t| (t, 0)).collect();
        if !frames.is_empty() && fps > 0.0 {
            // A day of video at most: a hostile index can claim any length.
            let samples = ((duration_s.min(MAX_SECONDS) * fps).floor() as usize).max(1);
            let mut on_screen = 0;
            for k in 0..samples {
                let t = (k as f64 * 1e6 / fps).round() as i64;
                while on_screen + 1 < frames.len() && frames[on_screen + 1].0 <= t {
                    on_screen += 1;
                }
                frames[on_screen].1 += 1;
            }
        }
        Self { frames, asked: 0 }
    }

    /// Samples in all.
    pub fn total(&self) -> usize {
        self.frames.iter().map(|f| f.1).sum()
    }

    /// How many samples the decoded frame at `timestamp_us` makes (0: close it unread). Frames
    /// must be asked about in presentation order; one the plan does not list makes none.
    pub fn take(&mut self, timestamp_us: i64) -> usize {
        while self.asked < self.frames.len() && self.frames[self.asked].0 < timestamp_us {
            self.asked += 1;
        }
        match self.frames.get(self.asked) {
            Some(&(t, n)) if t == timestamp_us => {
                self.asked += 1;
                n
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sampling_time_takes_the_frame_on_screen() {
        // 25 frames/s for 1 s, sampled at 10/s: times 0, 0.1, ... 0.9 s fall on frames
        // 0, 2 (0.08 s), 5, 7, 10, 12, 15, 17, 20, 22.
        let shown: Vec<i64> = (0..25).map(|i| i * 40_000).collect();
        let mut plan = Sampling::new(&shown, 1.0, 10.0);
        assert_eq!(plan.total(), 10);
        let kept: Vec<usize> = shown.iter().enumerate().filter(|&(_, &t)| plan.take(t) > 0).map(|(i, _)| i).collect();
        assert_eq!(kept, vec![0, 2, 5, 7, 10, 12, 15, 17, 20, 22]);
    }

    #[test]
    fn sampling_faster_than_the_video_repeats_frames() {
        // 5 frames/s sampled at 10/s: each frame is on screen for two sampling times.
        let shown: Vec<i64> = (0..5).map(|i| i * 200_000).collect();
        let mut plan = Sampling::new(&shown, 1.0, 10.0);
        assert_eq!(shown.iter().map(|&t| plan.take(t)).collect::<Vec<_>>(), vec![2; 5]);
    }

    #[test]
    fn frames_the_plan_does_not_list_make_no_samples() {
        let mut plan = Sampling::new(&[0, 100_000, 200_000], 0.3, 10.0);
        assert_eq!(plan.take(0), 1);
        assert_eq!(plan.take(50_000), 0, "not a listed frame");
        assert_eq!(plan.take(200_000), 1, "a frame the decoder dropped is skipped over");
        assert_eq!(plan.take(200_000), 0, "asked once");
    }
}
