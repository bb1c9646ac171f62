//! Head pose from the five landmarks MTCNN gives (eyes, nose, mouth corners): labels for the
//! quality harness and the app's "did fine-tuning help" probe, where no pose annotation
//! exists. Roll is exact (the eye line's angle). Yaw and pitch are geometric proxies: the nose
//! tip stands about `NOSE_DEPTH` inter-ocular distances in front of the eye plane, so turning
//! the head moves it sideways (yaw) or up and down against the eye-mouth line (pitch) by that
//! depth times the sine of the angle. They rank and scale poses consistently, which is what a
//! probe target needs; they are not calibrated degrees.

use serde::Serialize;

/// Nose-tip depth in front of the eyes, in inter-ocular distances (an adult average).
const NOSE_DEPTH: f32 = 0.6;
/// Where a frontal nose tip sits between the eyes (0) and the mouth (1), measured along the
/// face's vertical axis.
const NOSE_HEIGHT: f32 = 0.55;

/// Angles in degrees: roll clockwise in the image, yaw to the image's right, pitch up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadPose {
    pub roll: f32,
    pub yaw: f32,
    pub pitch: f32,
}

impl HeadPose {
    /// From `[left eye, right eye, nose, left mouth, right mouth]` in pixels (x right, y down),
    /// as [`crate::face::Detection`] holds them. `None` when the eyes coincide.
    pub fn from_landmarks(points: &[[f32; 2]; 5]) -> Option<Self> {
        let [le, re, nose, lm, rm] = *points;
        let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
        let inter_ocular = dx.hypot(dy);
        if inter_ocular < 1e-3 {
            return None;
        }
        let roll = dy.atan2(dx);
        // Into the face's own axes: x along the eye line, y down the face.
        let (cos, sin) = (roll.cos(), roll.sin());
        let mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
        let local = |p: [f32; 2]| {
            let (x, y) = (p[0] - mid[0], p[1] - mid[1]);
            (x * cos + y * sin, -x * sin + y * cos)
        };
        let (nose_x, nose_y) = local(nose);
        let (_, mouth_y) = local([(lm[0] + rm[0]) / 2.0, (lm[1] + rm[1]) / 2.0]);
        let depth = NOSE_DEPTH * inter_ocular;
        let angle = |offset: f32| (offset / depth).clamp(-1.0, 1.0).asin().to_degrees();
        Some(Self { roll: roll.to_degrees(), yaw: angle(nose_x), pitch: angle(NOSE_HEIGHT * mouth_y - nose_y) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotate(points: [[f32; 2]; 5], degrees: f32) -> [[f32; 2]; 5] {
        let (s, c) = degrees.to_radians().sin_cos();
        points.map(|[x, y]| [100.0 + (x - 100.0) * c - (y - 100.0) * s, 100.0 + (x - 100.0) * s + (y - 100.0) * c])
    }

    #[test]
    fn a_frontal_face_is_level_and_rotating_it_moves_roll_alone() {
        // Eyes 40 px apart at y 90; nose on the midline at 55% of the way to the mouth.
        let frontal = [[80.0, 90.0], [120.0, 90.0], [100.0, 90.0 + 0.55 * 40.0], [85.0, 130.0], [115.0, 130.0]];
        let pose = HeadPose::from_landmarks(&frontal).unwrap();
        assert!(pose.roll.abs() < 1e-4 && pose.yaw.abs() < 1e-3 && pose.pitch.abs() < 1e-3, "{pose:?}");
        let tilted = HeadPose::from_landmarks(&rotate(frontal, 25.0)).unwrap();
        assert!((tilted.roll - 25.0).abs() < 1e-3 && tilted.yaw.abs() < 1e-3 && tilted.pitch.abs() < 1e-3, "{tilted:?}");
    }

    #[test]
    fn nose_offsets_give_yaw_and_pitch_of_the_right_sign_and_size() {
        let mut turned = [[80.0, 90.0], [120.0, 90.0], [100.0, 112.0], [85.0, 130.0], [115.0, 130.0]];
        turned[2][0] += 0.6 * 40.0 * 30f32.to_radians().sin();
        let pose = HeadPose::from_landmarks(&turned).unwrap();
        assert!((pose.yaw - 30.0).abs() < 1e-3 && pose.pitch.abs() < 1e-3, "{pose:?}");
        let mut up = [[80.0, 90.0], [120.0, 90.0], [100.0, 112.0], [85.0, 130.0], [115.0, 130.0]];
        up[2][1] -= 0.6 * 40.0 * 20f32.to_radians().sin();
        assert!((HeadPose::from_landmarks(&up).unwrap().pitch - 20.0).abs() < 1e-3);
        assert!(HeadPose::from_landmarks(&[[5.0, 5.0]; 5]).is_none());
    }
}
