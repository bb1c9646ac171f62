//! Face tracks cut from a video in one pass, holding only the last few frames: what a browser
//! needs to turn a clip of any length into training crops without keeping its frames.
//!
//! A track's smoothed box for frame `t` is final once the track has `radius` boxes after `t`
//! or has ended; a track ends at most `max_gap + 1` frames after its last detection. So a
//! window of `max_gap + radius + 1` frames is enough to crop every frame exactly as the
//! two-pass path (`Tracker::finish`, then `Track::smoothed`, then `CropGeometry::crop`) does.

use std::collections::{BTreeMap, VecDeque};

use super::boxes::BoundingBox;
use super::crop::CropGeometry;
use super::detect::Detection;
use super::frame::RgbFrame;
use super::track::{Track, Tracker, TrackerParams};

/// A finished track: the crop and the smoothed box of each of its frames.
#[derive(Debug, Clone, PartialEq)]
pub struct CutTrack {
    pub id: usize,
    /// Index of the first frame in the stream.
    pub start: usize,
    pub boxes: Vec<BoundingBox>,
    pub crops: Vec<RgbFrame>,
}

impl CutTrack {
    /// Stream indices of its frames.
    pub fn frames(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.crops.len()
    }
}

/// Crops cut so far of one open track.
#[derive(Default)]
struct Cutting {
    boxes: Vec<BoundingBox>,
    crops: Vec<RgbFrame>,
}

pub struct CropStream {
    tracker: Tracker,
    geometry: CropGeometry,
    radius: usize,
    /// The last frames, oldest first; `recent[0]` is frame `frames_seen - recent.len()`.
    recent: VecDeque<RgbFrame>,
    cutting: BTreeMap<usize, Cutting>,
    done: Vec<CutTrack>,
}

impl CropStream {
    /// Boxes are smoothed over `2 * radius + 1` frames, as `Track::smoothed(radius)`.
    pub fn new(params: TrackerParams, geometry: CropGeometry, radius: usize) -> Self {
        Self { tracker: Tracker::new(params), geometry, radius, recent: VecDeque::new(), cutting: BTreeMap::new(), done: Vec::new() }
    }

    /// Frames held at most: the window the crops need.
    pub fn window(&self) -> usize {
        self.tracker.params().max_gap + self.radius + 1
    }

    /// Frames pushed so far.
    pub fn frames_seen(&self) -> usize {
        self.tracker.frames_seen()
    }

    /// Frames held now (at most [`CropStream::window`]).
    pub fn frames_held(&self) -> usize {
        self.recent.len()
    }

    /// Finished tracks so far, and open ones with any crops cut.
    pub fn tracks(&self) -> usize {
        self.done.len() + self.cutting.values().filter(|c| !c.crops.is_empty()).count()
    }

    /// Feed the next frame and its detections (a shot cut is detected from the frame).
    pub fn push(&mut self, frame: RgbFrame, detections: &[Detection]) {
        self.tracker.push_frame(&frame, detections);
        self.recent.push_back(frame);
        let oldest = self.frames_seen() - self.recent.len();
        let cutter = Cutter { recent: &self.recent, oldest, geometry: &self.geometry, radius: self.radius };
        for track in self.tracker.open_tracks() {
            // Boxes up to `radius` before the track's end are final.
            cutter.cut(self.cutting.entry(track.id).or_default(), track, track.len().saturating_sub(self.radius));
        }
        for track in self.tracker.take_finished() {
            self.done.push(cutter.finish(self.cutting.remove(&track.id).unwrap_or_default(), &track));
        }
        // Tracks that ended too short were dropped by the tracker: so are their crops.
        let tracker = &self.tracker;
        self.cutting.retain(|id, _| tracker.open_tracks().any(|t| t.id == *id));
        while self.recent.len() > self.window() {
            self.recent.pop_front();
        }
    }

    /// End every open track; the tracks, ordered by first frame.
    pub fn finish(mut self) -> Vec<CutTrack> {
        let oldest = self.frames_seen() - self.recent.len();
        let cutter = Cutter { recent: &self.recent, oldest, geometry: &self.geometry, radius: self.radius };
        let min_length = self.tracker.params().min_length;
        for track in self.tracker.open_tracks().filter(|t| t.len() >= min_length) {
            self.done.push(cutter.finish(self.cutting.remove(&track.id).unwrap_or_default(), track));
        }
        self.done.sort_by_key(|t| (t.start, t.id));
        self.done
    }
}

/// The frames in the window, and how to crop them.
struct Cutter<'a> {
    recent: &'a VecDeque<RgbFrame>,
    /// Stream index of `recent[0]`.
    oldest: usize,
    geometry: &'a CropGeometry,
    radius: usize,
}

impl Cutter<'_> {
    /// Cut `track`'s frames from the first not yet cut up to (not including) box `upto`.
    fn cut(&self, c: &mut Cutting, track: &Track, upto: usize) {
        for i in c.crops.len()..upto {
            let index = track.start + i;
            let frame = index.checked_sub(self.oldest).and_then(|k| self.recent.get(k)).expect("the window holds every frame a track still needs");
            let smoothed = track.smoothed_at(i, self.radius);
            c.crops.push(self.geometry.crop(frame, &self.geometry.window(&smoothed)));
            c.boxes.push(smoothed);
        }
    }

    /// The rest of an ended track, and the whole track cut.
    fn finish(&self, mut c: Cutting, track: &Track) -> CutTrack {
        self.cut(&mut c, track, track.len());
        CutTrack { id: track.id, start: track.start, boxes: c.boxes, crops: c.crops }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, side: f32) -> Detection {
        let bbox = BoundingBox { x1: x, y1: y, x2: x + side, y2: y + side, score: 0.99 };
        let landmarks = [
            [x + 0.3 * side, y + 0.4 * side],
            [x + 0.7 * side, y + 0.4 * side],
            [x + 0.5 * side, y + 0.6 * side],
            [x + 0.35 * side, y + 0.8 * side],
            [x + 0.65 * side, y + 0.8 * side],
        ];
        Detection { bbox, landmarks }
    }

    /// Frames whose pixels say which frame they are, so a crop from the wrong one shows.
    fn frame(i: usize, shot: usize) -> RgbFrame {
        let (w, h) = (96, 80);
        let data = (0..w * h)
            .flat_map(|p| {
                let (x, y) = (p % w, p / w);
                [((x * 3 + i * 7) % 256) as u8, ((y * 5 + i * 11) % 256) as u8, (shot * 200 % 256) as u8]
            })
            .collect();
        RgbFrame::new(w, h, data).expect("valid frame")
    }

    /// A clip with two faces, gaps the tracker bridges, a gap it does not, a track too short
    /// to keep and a shot cut, each frame with its detections.
    fn clip() -> Vec<(RgbFrame, Vec<Detection>)> {
        (0..60)
            .map(|i| {
                let shot = usize::from(i >= 40);
                let mut faces = Vec::new();
                // Face A drifts right; missed at frames 10-12 (bridged) and 20-27 (too long: a new track).
                if !(10..13).contains(&i) && !(20..28).contains(&i) && i < 40 {
                    faces.push(face(10.0 + i as f32 * 0.5, 12.0 + (i % 3) as f32, 30.0 + (i % 4) as f32));
                }
                // Face B: frames 5-8 only (dropped: shorter than min_length).
                if (5..9).contains(&i) {
                    faces.push(face(60.0, 40.0, 20.0));
                }
                // After the cut, face C to the end of the clip.
                if i >= 40 {
                    faces.push(face(40.0 - (i - 40) as f32, 20.0, 28.0));
                }
                (frame(i, shot), faces)
            })
            .collect()
    }

    #[test]
    fn one_pass_cuts_what_two_passes_cut() {
        let params = TrackerParams { min_length: 6, ..TrackerParams::default() };
        let geometry = CropGeometry { size: 24, ..CropGeometry::default() };
        let radius = 2;
        let frames = clip();

        let mut tracker = Tracker::new(params);
        for (f, d) in &frames {
            tracker.push_frame(f, d);
        }
        let expected: Vec<CutTrack> = tracker
            .finish()
            .iter()
            .map(|t| {
                let boxes = t.smoothed(radius);
                let crops = t.frames().zip(&boxes).map(|(i, b)| geometry.crop(&frames[i].0, &geometry.window(b))).collect();
                CutTrack { id: t.id, start: t.start, boxes, crops }
            })
            .collect();
        assert_eq!(expected.iter().map(|t| (t.start, t.crops.len())).collect::<Vec<_>>(), [(0, 20), (28, 12), (40, 20)], "the clip's tracks");

        let mut stream = CropStream::new(params, geometry, radius);
        for (f, d) in frames {
            stream.push(f, &d);
            assert!(stream.frames_held() <= stream.window());
        }
        assert_eq!(stream.window(), 8);
        assert_eq!(stream.finish(), expected);
    }

    #[test]
    fn a_still_and_an_empty_stream() {
        let params = TrackerParams { min_length: 1, ..TrackerParams::default() };
        let geometry = CropGeometry { size: 16, ..CropGeometry::default() };
        let mut stream = CropStream::new(params, geometry, 2);
        stream.push(frame(0, 0), &[face(20.0, 20.0, 30.0)]);
        let tracks = stream.finish();
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].frames(), 0..1);
        assert!(CropStream::new(params, geometry, 2).finish().is_empty());
    }
}
