//! When to run the full cascade on a video and when O-Net alone can follow the faces already
//! found: the pyramid costs P-Net over every scale of the frame, following one small O-Net
//! pass per face. Looking anew every few frames still finds faces that come into view. A
//! video's schedule is [`DetectEvery`]; a live camera's is [`LiveFaces`].

use super::detect::{DetectError, Detection, Detector};
use super::frame::RgbFrame;

/// Looks for faces every `every` frames and follows them in between; a frame whose faces are
/// not all followed (one left, or turned away) is looked at anew at once.
#[derive(Debug, Clone)]
pub struct DetectEvery {
    every: usize,
    /// Frames since the last full detection.
    since: usize,
    faces: Vec<Detection>,
    detections: usize,
    frames: usize,
}

impl DetectEvery {
    /// `every` = 1 runs the full cascade on every frame (the reference's way).
    pub fn new(every: usize) -> Self {
        Self { every: every.max(1), since: 0, faces: Vec::new(), detections: 0, frames: 0 }
    }

    pub fn every(&self) -> usize {
        self.every
    }

    /// The faces to follow into the next frame; empty when a full detection is due.
    pub fn to_follow(&self) -> &[Detection] {
        if self.frames == 0 || self.since + 1 >= self.every { &[] } else { &self.faces }
    }

    /// What the next frame showed, and whether the full cascade found it.
    pub fn saw(&mut self, faces: &[Detection], detected: bool) {
        self.faces = faces.to_vec();
        self.frames += 1;
        if detected {
            self.detections += 1;
            self.since = 0;
        } else {
            self.since += 1;
        }
    }

    /// Frames seen, and how many of them the full cascade looked at.
    pub fn counts(&self) -> (usize, usize) {
        (self.frames, self.detections)
    }
}

/// A live camera's faces from frame to frame: followed with O-Net on every
/// [`LiveFaces::FOLLOW_EVERY`]th frame (the frames between keep the last boxes), looked for on
/// the live pyramid ([`Detector::detect_live`]) when none is followed, and every
/// [`LiveFaces::LOOK_AGAIN_EVERY`] frames for a face coming into view. It keeps what it
/// followed, so a front-end can hand it the next frame before the last one's faces are back.
#[derive(Debug, Clone, Default)]
pub struct LiveFaces {
    followed: Vec<Detection>,
    frames: u64,
}

/// What [`LiveFaces::next`] did for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStep {
    /// The live pyramid looked for faces.
    Looked,
    /// O-Net followed the last faces.
    Followed,
    /// The last faces were kept as they were.
    Kept,
}

impl LiveFaces {
    pub const LOOK_AGAIN_EVERY: u64 = 30;
    /// On a software GPU O-Net costs two to three times the small preset's embedding, and a
    /// face moves little in a tenth of a second (training crops are smoothed over five frames).
    pub const FOLLOW_EVERY: u64 = 2;

    /// The faces in the camera's next frame, and how they were found.
    pub async fn next(&mut self, detector: &Detector, frame: &RgbFrame) -> Result<(Vec<Detection>, LiveStep), DetectError> {
        let n = self.frames;
        self.frames += 1;
        if !self.followed.is_empty() && !n.is_multiple_of(Self::LOOK_AGAIN_EVERY) {
            if !n.is_multiple_of(Self::FOLLOW_EVERY) {
                return Ok((self.followed.clone(), LiveStep::Kept));
            }
            let faces = detector.follow(frame, &self.followed).await?;
            if !faces.is_empty() {
                self.followed = faces.clone();
                return Ok((faces, LiveStep::Followed));
            }
        }
        self.followed = detector.detect_live(frame).await?;
        Ok((self.followed.clone(), LiveStep::Looked))
    }
}

impl Detector {
    /// The faces in `frame`: `previous` followed with O-Net alone, or the full cascade when
    /// there is nothing to follow or a followed face was lost. Also says whether the full
    /// cascade ran.
    pub async fn follow_or_detect(&self, frame: &RgbFrame, previous: &[Detection]) -> Result<(Vec<Detection>, bool), DetectError> {
        if !previous.is_empty() {
            let followed = self.follow(frame, previous).await?;
            if followed.len() >= previous.len() {
                return Ok((followed, false));
            }
        }
        Ok((self.detect(frame).await?, true))
    }

    /// The next frame of a video under `schedule`.
    pub async fn faces_in_video(&self, frame: &RgbFrame, schedule: &mut DetectEvery) -> Result<Vec<Detection>, DetectError> {
        let (faces, detected) = self.follow_or_detect(frame, schedule.to_follow()).await?;
        schedule.saw(&faces, detected);
        Ok(faces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::BoundingBox;

    fn face() -> Detection {
        Detection { bbox: BoundingBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0, score: 0.9 }, landmarks: [[5.0, 5.0]; 5] }
    }

    #[test]
    fn detects_every_nth_frame_and_follows_between() {
        let mut s = DetectEvery::new(3);
        let mut plan = Vec::new();
        for _ in 0..7 {
            let detect = s.to_follow().is_empty();
            plan.push(detect);
            s.saw(&[face()], detect);
        }
        assert_eq!(plan, [true, false, false, true, false, false, true]);
        assert_eq!(s.counts(), (7, 3));
    }

    #[test]
    fn nothing_to_follow_means_looking_again() {
        let mut s = DetectEvery::new(4);
        s.saw(&[], true);
        assert!(s.to_follow().is_empty(), "no face yet: the next frame is searched");
        s.saw(&[face()], true);
        assert_eq!(s.to_follow().len(), 1);
        assert!(DetectEvery::new(1).to_follow().is_empty());
        let mut every = DetectEvery::new(1);
        every.saw(&[face()], true);
        assert!(every.to_follow().is_empty(), "every = 1 never follows");
        assert_eq!(DetectEvery::new(0).every(), 1);
    }
}
