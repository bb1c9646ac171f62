//! The MTCNN cascade, step for step as facenet-pytorch 2.6.0's `detect_face`: an image
//! pyramid through P-Net, candidates refined by R-Net on 24x24 crops, then O-Net on 48x48
//! crops for final boxes and five landmarks. Image resampling and box arithmetic run on the
//! host; the networks run on whatever device the detector was given (CPU natively, WebGPU in
//! the browser). Reads are async, so the same code serves both.

use burn::tensor::{Device, Tensor, TensorData};

use super::boxes::{BoundingBox, Overlap, nms};
use super::frame::{RgbFrame, area_resize};
use super::mtcnn::Mtcnn;

/// The reference's defaults (`MTCNN()`): faces from 20 px, thresholds 0.6 / 0.7 / 0.7, and
/// a pyramid step of 0.709 (half the area per two levels).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectParams {
    pub min_face_size: f32,
    pub thresholds: [f32; 3],
    pub factor: f32,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self { min_face_size: 20.0, thresholds: [0.6, 0.7, 0.7], factor: 0.709 }
    }
}

impl DetectParams {
    /// For a live camera, whose face is the one in front of it: faces from a sixth of the
    /// frame's short side (at least 40 px). The pyramid then starts at a third of the scale
    /// the 20 px default needs or less, and P-Net's cost falls with the square of that.
    pub fn live(self, width: usize, height: usize) -> Self {
        Self { min_face_size: self.min_face_size.max(40.0).max(width.min(height) as f32 / 6.0), ..self }
    }
}

/// One face: its box (score = O-Net's probability) and five landmarks (x, y): left eye,
/// right eye, nose, left and right mouth corners, as seen in the image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    pub bbox: BoundingBox,
    pub landmarks: [[f32; 2]; 5],
}

impl Detection {
    /// The face the detector is surest of, when it found any.
    pub fn most_confident(faces: &[Detection]) -> Option<&Detection> {
        faces.iter().max_by(|a, b| a.bbox.score.total_cmp(&b.bbox.score))
    }

    /// The largest face: the one in front of a camera.
    pub fn largest(faces: &[Detection]) -> Option<&Detection> {
        faces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("face detection failed: {0}")]
pub struct DetectError(pub String);

pub struct Detector {
    nets: Mtcnn,
    params: DetectParams,
    device: Device,
}

const CELL: f32 = 12.0;
const STRIDE: f32 = 2.0;
/// At most this many crops per forward pass, as the reference (keeps GPU buffers bounded).
const CHUNK: usize = 512;

fn normalise(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = (*v - 127.5) * 0.0078125);
}

async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, DetectError> {
    crate::readback::values(tensor).await.map_err(DetectError)
}

/// A candidate box with the regression offsets its network predicted.
struct Candidate {
    bbox: BoundingBox,
    reg: [f32; 4],
}

impl Detector {
    pub fn new(nets: Mtcnn, params: DetectParams, device: Device) -> Self {
        Self { nets, params, device }
    }

    pub fn params(&self) -> DetectParams {
        self.params
    }

    /// The pyramid's levels for a `width` x `height` frame: (scale, level height, level width).
    pub(crate) fn levels(params: &DetectParams, width: usize, height: usize) -> Vec<(f64, usize, usize)> {
        Self::scales(params, width, height)
            .into_iter()
            .map(|scale| (scale, (height as f64 * scale + 1.0) as usize, (width as f64 * scale + 1.0) as usize))
            .collect()
    }

    /// The pyramid's scales: the largest maps `min_face_size` to P-Net's 12 px window.
    fn scales(params: &DetectParams, width: usize, height: usize) -> Vec<f64> {
        let m = 12.0 / params.min_face_size as f64;
        let mut min_side = width.min(height) as f64 * m;
        let mut scale = m;
        let mut scales = Vec::new();
        while min_side >= 12.0 {
            scales.push(scale);
            scale *= params.factor as f64;
            min_side *= params.factor as f64;
        }
        scales
    }

    /// All faces in one frame, highest score first.
    pub async fn detect(&self, frame: &RgbFrame) -> Result<Vec<Detection>, DetectError> {
        self.detect_with(frame, &self.params).await
    }

    /// The faces a live camera shows ([`DetectParams::live`]): the cascade on a shorter
    /// pyramid, for a webcam that must not stall when it looks for a face again.
    pub async fn detect_live(&self, frame: &RgbFrame) -> Result<Vec<Detection>, DetectError> {
        self.detect_with(frame, &self.params.live(frame.width, frame.height)).await
    }

    async fn detect_with(&self, frame: &RgbFrame, params: &DetectParams) -> Result<Vec<Detection>, DetectError> {
        let (w, h) = (frame.width, frame.height);
        let image = frame.planar();

        // Stage 1: P-Net over the pyramid; NMS within each scale, then across scales.
        let mut proposals = Vec::new();
        for (scale, hs, ws) in Self::levels(params, w, h) {
            let mut level = area_resize(&image, 3, h, w, hs, ws);
            normalise(&mut level);
            let (map, gh, gw) = self.pnet_pass(level, hs, ws).await?;
            let scale = scale as f32;
            let mut found = Vec::new();
            for y in 0..gh {
                for x in 0..gw {
                    let score = map[(4 * gh + y) * gw + x];
                    if score < params.thresholds[0] {
                        continue;
                    }
                    let (fx, fy) = (x as f32, y as f32);
                    found.push(Candidate {
                        bbox: BoundingBox {
                            x1: ((STRIDE * fx + 1.0) / scale).floor(),
                            y1: ((STRIDE * fy + 1.0) / scale).floor(),
                            x2: ((STRIDE * fx + CELL) / scale).floor(),
                            y2: ((STRIDE * fy + CELL) / scale).floor(),
                            score,
                        },
                        reg: std::array::from_fn(|c| map[(c * gh + y) * gw + x]),
                    });
                }
            }
            proposals.extend(pick(found, 0.5, Overlap::Union));
        }
        let proposals: Vec<BoundingBox> = pick(proposals, 0.7, Overlap::Union)
            .into_iter()
            .map(|c| {
                // Stage 1 scales its offsets by the plain width (no + 1), unlike later stages.
                let (bw, bh) = (c.bbox.width(), c.bbox.height());
                BoundingBox {
                    x1: c.bbox.x1 + c.reg[0] * bw,
                    y1: c.bbox.y1 + c.reg[1] * bh,
                    x2: c.bbox.x2 + c.reg[2] * bw,
                    y2: c.bbox.y2 + c.reg[3] * bh,
                    score: c.bbox.score,
                }
                .squared()
            })
            .collect();

        // Stage 2: R-Net on 24x24 crops.
        let (kept, batches) = crop_batch(frame, &proposals, 24);
        let mut refined = Vec::new();
        for (boxes, batch) in kept.chunks(CHUNK).zip(batches.chunks(CHUNK * 3 * 24 * 24)) {
            let rows = self.rnet_pass(batch.to_vec(), boxes.len()).await?;
            for (b, row) in boxes.iter().zip(rows.chunks(RNET_ROW)) {
                if row[RNET_ROW - 1] > params.thresholds[1] {
                    let bbox = BoundingBox { score: row[RNET_ROW - 1], ..*b };
                    refined.push(Candidate { bbox, reg: std::array::from_fn(|c| row[c]) });
                }
            }
        }
        let refined: Vec<BoundingBox> = pick(refined, 0.7, Overlap::Union).into_iter().map(|c| c.bbox.regress(c.reg).squared()).collect();

        self.output_stage(frame, &refined).await
    }

    /// Follow faces already found into the next frame with O-Net alone, on a square around
    /// each previous box: one small forward pass instead of the pyramid, which keeps a webcam
    /// live. Faces it loses (score under the last threshold) are simply not returned; the
    /// caller runs [`Detector::detect`] again when it has none left.
    pub async fn follow(&self, frame: &RgbFrame, previous: &[Detection]) -> Result<Vec<Detection>, DetectError> {
        let boxes: Vec<BoundingBox> = previous.iter().map(|d| d.bbox.squared()).collect();
        self.output_stage(frame, &boxes).await
    }

    /// Stage 3: O-Net on 48x48 crops; landmarks are placed in the box before regression.
    async fn output_stage(&self, frame: &RgbFrame, candidates: &[BoundingBox]) -> Result<Vec<Detection>, DetectError> {
        let (kept, batches) = crop_batch(frame, candidates, 48);
        let mut faces = Vec::new();
        let mut regs = Vec::new();
        for (boxes, batch) in kept.chunks(CHUNK).zip(batches.chunks(CHUNK * 3 * 48 * 48)) {
            let rows = self.onet_pass(batch.to_vec(), boxes.len()).await?;
            for (b, row) in boxes.iter().zip(rows.chunks(ONET_ROW)) {
                if row[ONET_ROW - 1] > self.params.thresholds[2] {
                    let bbox = BoundingBox { score: row[ONET_ROW - 1], ..*b };
                    let (bw, bh) = (bbox.width() + 1.0, bbox.height() + 1.0);
                    let p = &row[4..14];
                    let landmarks = std::array::from_fn(|k| [bw * p[k] + bbox.x1 - 1.0, bh * p[5 + k] + bbox.y1 - 1.0]);
                    regs.push(std::array::from_fn::<f32, 4, _>(|c| row[c]));
                    faces.push(Detection { bbox, landmarks });
                }
            }
        }
        for (face, reg) in faces.iter_mut().zip(regs) {
            face.bbox = face.bbox.regress(reg);
        }
        let boxes: Vec<BoundingBox> = faces.iter().map(|f| f.bbox).collect();
        Ok(nms(&boxes, 0.7, Overlap::Min).into_iter().map(|i| faces[i]).collect())
    }
}

/// Values per crop that R-Net's pass reads back: four regression offsets, the face probability.
const RNET_ROW: usize = 5;
/// Values per crop that O-Net's pass reads back: four regression offsets, ten landmark
/// coordinates (five x, five y), the face probability.
const ONET_ROW: usize = 15;

/// Each network's forward pass, its outputs joined into one tensor so that they come back
/// in one read (each read waits for the device: on WebGPU a round trip per read).
impl Detector {
    /// P-Net on one normalised pyramid level (planar, `height` x `width`): the map
    /// `[5, gh, gw]` (four regression channels, then the face probability), gh, gw.
    pub(crate) async fn pnet_pass(&self, level: Vec<f32>, height: usize, width: usize) -> Result<(Vec<f32>, usize, usize), DetectError> {
        let input = Tensor::<4>::from_data(TensorData::new(level, [1, 3, height, width]), &self.device);
        let (reg, probs) = self.nets.pnet.forward(input);
        let (gh, gw) = (probs.dims()[1], probs.dims()[2]);
        Ok((read(Tensor::cat(vec![reg, probs.unsqueeze_dim(1)], 1)).await?, gh, gw))
    }

    /// R-Net on `count` normalised 24x24 crops: per crop, four regression values then the
    /// face probability.
    pub(crate) async fn rnet_pass(&self, crops: Vec<f32>, count: usize) -> Result<Vec<f32>, DetectError> {
        let input = Tensor::<4>::from_data(TensorData::new(crops, [count, 3, 24, 24]), &self.device);
        let (reg, probs) = self.nets.rnet.forward(input);
        read(Tensor::cat(vec![reg, probs.unsqueeze_dim(1)], 1)).await
    }

    /// O-Net on `count` normalised 48x48 crops: per crop, four regression values, ten
    /// landmark coordinates (five x, five y) and the face probability.
    pub(crate) async fn onet_pass(&self, crops: Vec<f32>, count: usize) -> Result<Vec<f32>, DetectError> {
        let input = Tensor::<4>::from_data(TensorData::new(crops, [count, 3, 48, 48]), &self.device);
        let (reg, points, probs) = self.nets.onet.forward(input);
        read(Tensor::cat(vec![reg, points, probs.unsqueeze_dim(1)], 1)).await
    }
}

fn pick(candidates: Vec<Candidate>, threshold: f32, overlap: Overlap) -> Vec<Candidate> {
    let boxes: Vec<BoundingBox> = candidates.iter().map(|c| c.bbox).collect();
    let keep = nms(&boxes, threshold, overlap);
    let mut slots: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The boxes that have pixels inside the frame, and their crops resized to `size` and
/// normalised, planar, one after another.
fn crop_batch(frame: &RgbFrame, boxes: &[BoundingBox], size: usize) -> (Vec<BoundingBox>, Vec<f32>) {
    let mut kept = Vec::new();
    let mut values = Vec::with_capacity(boxes.len() * 3 * size * size);
    for b in boxes {
        let Some((x0, y0, x1, y1)) = b.crop_window(frame.width, frame.height) else { continue };
        let window = crop_planes(frame, x0, y0, x1, y1);
        let mut crop = area_resize(&window, 3, y1 - y0, x1 - x0, size, size);
        normalise(&mut crop);
        values.extend(crop);
        kept.push(*b);
    }
    (kept, values)
}

/// The window's pixels as planar values, read from the frame itself: following a face must
/// not convert the whole frame first.
fn crop_planes(frame: &RgbFrame, x0: usize, y0: usize, x1: usize, y1: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(3 * (x1 - x0) * (y1 - y0));
    for c in 0..3 {
        for y in y0..y1 {
            let row = &frame.pixels[(y * frame.width + x0) * 3..(y * frame.width + x1) * 3];
            out.extend(row.chunks_exact(3).map(|p| p[c] as f32));
        }
    }
    out
}
