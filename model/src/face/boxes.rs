//! Box arithmetic of the MTCNN cascade, kept to the reference's conventions (facenet-pytorch
//! 2.6.0): where it adds 1 to a width and where it does not matters for parity.

/// Corners in pixels (x to the right, y down) and a confidence.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoundingBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
}

impl BoundingBox {
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }
    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// Intersection over union, continuous areas (torchvision's `box_iou`).
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let inter = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0) * (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// Regression offsets scaled by the box size plus one (`bbreg`).
    pub(crate) fn regress(&self, reg: [f32; 4]) -> BoundingBox {
        let w = self.width() + 1.0;
        let h = self.height() + 1.0;
        BoundingBox { x1: self.x1 + reg[0] * w, y1: self.y1 + reg[1] * h, x2: self.x2 + reg[2] * w, y2: self.y2 + reg[3] * h, score: self.score }
    }

    /// Grow the shorter side to make a square about the same centre (`rerec`).
    pub(crate) fn squared(&self) -> BoundingBox {
        let (w, h) = (self.width(), self.height());
        let l = w.max(h);
        let x1 = self.x1 + w * 0.5 - l * 0.5;
        let y1 = self.y1 + h * 0.5 - l * 0.5;
        BoundingBox { x1, y1, x2: x1 + l, y2: y1 + l, score: self.score }
    }

    /// The integer pixel window the cascade crops for the next stage (`pad`): corners
    /// truncated, then clipped to the image. `None` when nothing of it is inside.
    pub(crate) fn crop_window(&self, width: usize, height: usize) -> Option<(usize, usize, usize, usize)> {
        let x = (self.x1.trunc() as i64).max(1);
        let y = (self.y1.trunc() as i64).max(1);
        let ex = (self.x2.trunc() as i64).min(width as i64);
        let ey = (self.y2.trunc() as i64).min(height as i64);
        (ex > x - 1 && ey > y - 1).then(|| ((x - 1) as usize, (y - 1) as usize, ex as usize, ey as usize))
    }
}

/// How overlap is measured in non-maximum suppression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// torchvision `nms`: intersection over union of continuous areas.
    Union,
    /// The reference's last stage: intersection over the smaller box, areas counted in whole
    /// pixels (`+ 1`), so a box nested in a larger one is dropped.
    Min,
}

/// Indices of the boxes kept, highest score first; a box is dropped when it overlaps a kept
/// one by more than `threshold`.
pub fn nms(boxes: &[BoundingBox], threshold: f32, overlap: Overlap) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].score.total_cmp(&boxes[a].score));
    let plus = if overlap == Overlap::Min { 1.0 } else { 0.0 };
    let area = |b: &BoundingBox| (b.width() + plus) * (b.height() + plus);
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (rank, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let a = &boxes[i];
        for &j in &order[rank + 1..] {
            if suppressed[j] {
                continue;
            }
            let b = &boxes[j];
            let iw = (a.x2.min(b.x2) - a.x1.max(b.x1) + plus).max(0.0);
            let ih = (a.y2.min(b.y2) - a.y1.max(b.y1) + plus).max(0.0);
            let inter = iw * ih;
            let ratio = match overlap {
                Overlap::Union => inter / (area(a) + area(b) - inter),
                Overlap::Min => inter / area(a).min(area(b)),
            };
            if ratio > threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bb(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> BoundingBox {
        BoundingBox { x1, y1, x2, y2, score }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let boxes = [bb(0.0, 0.0, 10.0, 10.0, 0.8), bb(1.0, 1.0, 10.0, 10.0, 0.9), bb(20.0, 20.0, 30.0, 30.0, 0.7)];
        assert_eq!(nms(&boxes, 0.5, Overlap::Union), vec![1, 2]);
        // A small box inside a big one: IoU is low, but "Min" overlap is total.
        let nested = [bb(0.0, 0.0, 100.0, 100.0, 0.9), bb(10.0, 10.0, 20.0, 20.0, 0.95)];
        assert_eq!(nms(&nested, 0.7, Overlap::Union), vec![1, 0]);
        assert_eq!(nms(&nested, 0.7, Overlap::Min), vec![1]);
    }

    #[test]
    fn squared_keeps_the_centre() {
        let s = bb(10.0, 20.0, 30.0, 60.0, 1.0).squared();
        assert_eq!((s.width(), s.height(), s.center()), (40.0, 40.0, (20.0, 40.0)));
    }
}
