//! Which frames validate when the data is a few face tracks and nothing says who is who (the
//! browser's clips): whole tracks when there are enough of them, otherwise the end of each
//! track, as `fabnet train` holds out a single track. No frame is in both.

use std::ops::Range;

/// A fifth of the data validates.
const FRACTION: f64 = 0.2;
/// The fewest frames a track's end may validate with (and the fewest left to train on).
const MIN_FRAMES: usize = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct HoldOut {
    /// Per track, the frames that train (empty when the whole track validates).
    pub train: Vec<Range<usize>>,
    /// Per track, the frames that validate (empty when it only trains).
    pub val: Vec<Range<usize>>,
    /// What is held out, in words, for the user.
    pub description: String,
}

impl HoldOut {
    /// For tracks of `lengths[t]` frames: with three tracks or more, the last fifth of the
    /// tracks (at least one) validate whole; with fewer, the last fifth of every track long
    /// enough (at least two frames, two left to train) validates. `None` when nothing can be
    /// held out (every track too short).
    pub fn of(lengths: &[usize]) -> Option<Self> {
        let n = lengths.len();
        if n >= 3 {
            let held = ((n as f64 * FRACTION).round() as usize).clamp(1, n - 1);
            let first_held = n - held;
            let train = lengths.iter().enumerate().map(|(t, &len)| if t < first_held { 0..len } else { 0..0 }).collect();
            let val = lengths.iter().enumerate().map(|(t, &len)| if t < first_held { 0..0 } else { 0..len }).collect();
            let frames: usize = lengths[first_held..].iter().sum();
            let description = format!("validating on the last {held} of {n} face tracks ({frames} frames), which training never sees");
            return Some(Self { train, val, description });
        }
        let cut = |len: usize| {
            let val = ((len as f64 * FRACTION).round() as usize).max(MIN_FRAMES);
            (len >= val + MIN_FRAMES).then(|| len - val)
        };
        let cuts: Vec<Option<usize>> = lengths.iter().map(|&len| cut(len)).collect();
        if cuts.iter().all(Option::is_none) {
            return None;
        }
        let train = lengths.iter().zip(&cuts).map(|(&len, c)| 0..c.unwrap_or(len)).collect();
        let val: Vec<Range<usize>> = lengths.iter().zip(&cuts).map(|(&len, c)| c.map_or(0..0, |c| c..len)).collect();
        let frames: usize = val.iter().map(|r| r.len()).sum();
        let description = format!("validating on the last fifth of each face track ({frames} frames), which training never sees");
        Some(Self { train, val, description })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_track_gives_its_end_to_validation_and_never_shares_a_frame() {
        let h = HoldOut::of(&[40]).unwrap();
        assert_eq!((h.train.len(), h.val.len()), (1, 1));
        assert_eq!((h.train[0].clone(), h.val[0].clone()), (0..32, 32..40));
        assert!(h.description.contains("8 frames"), "{}", h.description);
        // Too short a track trains only; when every track is, nothing can be held out.
        let h = HoldOut::of(&[3, 10]).unwrap();
        assert_eq!((h.train.clone(), h.val.clone()), (vec![0..3, 0..8], vec![0..0, 8..10]));
        assert_eq!(HoldOut::of(&[3, 2]), None);
    }

    #[test]
    fn several_tracks_hold_out_whole_tracks() {
        let h = HoldOut::of(&[10, 20, 30, 40, 50]).unwrap();
        assert_eq!(h.val, vec![0..0, 0..0, 0..0, 0..0, 0..50]);
        assert_eq!(h.train, vec![0..10, 0..20, 0..30, 0..40, 0..0]);
        assert!(h.description.contains("last 1 of 5"), "{}", h.description);
    }
}
