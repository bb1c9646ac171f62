//! Messages between the page and the engine worker. The page decodes media and draws; the
//! worker owns WebGPU, the networks and training. Every request carries an id that its reply
//! repeats; training progress arrives unasked.

use fabnet::bench::{BenchReport, BenchSpec};
use fabnet::face::{Detection, RgbFrame, WarmPass};
use fabnet::footprint::DeviceLimits;
use fabnet::probe::{Attribute, FineTuneCheck, TeachReport};
use fabnet::weights::WeightsInfo;
use serde::{Deserialize, Serialize};

use crate::reach::Reach;

/// An RGB frame on the wire (bytes as one blob, not one number each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    #[serde(with = "serde_bytes")]
    pub pixels: Vec<u8>,
}

impl From<&RgbFrame> for Frame {
    fn from(f: &RgbFrame) -> Self {
        Self { width: f.width as u32, height: f.height as u32, pixels: f.pixels.clone() }
    }
}

impl Frame {
    pub fn to_rgb(&self) -> Result<RgbFrame, String> {
        RgbFrame::new(self.width as usize, self.height as usize, self.pixels.clone()).ok_or_else(|| "a frame whose size does not match its pixels".to_string())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub id: u32,
    pub call: Call,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Call {
    /// Start WebGPU and load both networks from these files.
    Start {
        #[serde(with = "serde_bytes")]
        weights: Vec<u8>,
        #[serde(with = "serde_bytes")]
        detector: Vec<u8>,
    },
    /// A webcam's next frame: its faces (the worker follows them from frame to frame with
    /// `fabnet::face::LiveFaces`; `restart` forgets what it followed) and the largest one's
    /// embedding. The worker keeps the faces so that the page can send a frame before the
    /// last one's answer is back.
    Live {
        frame: Frame,
        restart: bool,
    },
    /// A video's next frame: these faces followed, or the full cascade when there are none or
    /// one was lost (`Detector::follow_or_detect`).
    FollowOrDetect(Frame, Vec<Detection>),
    /// Run one pass of the detector on zeros, so that its kernels are compiled before a
    /// real frame needs them.
    WarmUp(WarmPass),
    /// Planar RGB images in [0, 1] at the model's input size.
    Embed(Vec<Vec<f32>>),
    /// Warp `source` (an input image) so that it takes the pose and expression of `driver`
    /// (an embedding), through the decoders.
    Resynthesize {
        source: Vec<f32>,
        driver: Vec<f32>,
    },
    /// Replace the model: a file `fabnet train`, `fabnet import` or this app wrote, or one of
    /// the authors' PyTorch checkpoints (`name` is the file's, for the provenance). A bad file
    /// leaves the current model in place.
    LoadWeights {
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        name: String,
    },
    SaveWeights,
    /// Fit `attribute` on the embeddings of the faces the user tagged (`targets`: a class index,
    /// or the value) and make it the model's linear head.
    Teach {
        attribute: Attribute,
        embeddings: Vec<Vec<f32>>,
        targets: Vec<Vec<f32>>,
    },
    Train(TrainRequest),
    Pause,
    Resume,
    /// Stop training; the model keeps what it learned.
    Stop,
    /// Try a request to this address from the worker (does the page's policy hold here too?).
    TryReach(String),
    /// The model crate's benchmark on this device (what `fabnet bench` runs natively); the
    /// detector rows on `frame` when there is one.
    Bench {
        spec: BenchSpec,
        frame: Option<Frame>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Reply {
    /// The model loaded, and what the device allows.
    Ready {
        info: WeightsInfo,
        limits: DeviceLimits,
    },
    Live(LiveFrame),
    /// The faces in a video frame, and whether the full cascade found them.
    FacesInVideo {
        faces: Vec<Detection>,
        detected: bool,
    },
    /// Embeddings, and the linear head's outputs when the weights carry a head.
    Embedded {
        embeddings: Vec<Vec<f32>>,
        head: Option<Vec<Vec<f32>>>,
    },
    Image(Vec<f32>),
    Weights(#[serde(with = "serde_bytes")] Vec<u8>),
    /// How the attribute scored, and what the model (now with its head) is.
    Taught {
        report: TeachReport,
        info: WeightsInfo,
    },
    Reach(Reach),
    Bench(BenchReport),
    Done,
}

/// What the worker made of a webcam frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LiveFrame {
    pub faces: Vec<Detection>,
    /// The largest face's embedding; `None` when no face is in view.
    pub embedding: Option<Vec<f32>>,
    /// When the weights carry a head: the network's view of that face (planar RGB at its
    /// input size, for the head's picture) and the head's outputs for it.
    pub head: Option<(Vec<f32>, Vec<f32>)>,
    /// The worker's time finding the faces and embedding the face, in ms.
    pub face_ms: f64,
    pub embed_ms: f64,
}

// Events are serialised to cross to the page, once per step: boxing the large one saves nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    Reply { id: u32, result: Result<Reply, String> },
    Training(TrainUpdate),
}

/// The Train panel's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// `None`: fine-tune the loaded weights; otherwise start afresh from this preset.
    pub preset: Option<String>,
    pub steps: u32,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub source_views: usize,
    pub curriculum: bool,
    // Under the hood.
    pub adam: bool,
    /// Validate (and let the curriculum react) every this many steps.
    pub validate_every: u32,
    /// Steps without improvement before the curriculum window moves.
    pub patience: u32,
    pub jitter: bool,
    /// The paper's two stages: the first half of the run with one source view and everything
    /// trained, the second with `source_views` views and the flow decoder frozen. Otherwise one
    /// stage with `source_views` views.
    #[serde(default)]
    pub two_stages: bool,
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            preset: None,
            steps: 40,
            batch_size: 8,
            learning_rate: 1e-3,
            source_views: 2,
            curriculum: true,
            adam: true,
            validate_every: 10,
            patience: 2,
            jitter: true,
            two_stages: false,
            seed: 1,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainRequest {
    pub settings: TrainSettings,
    /// Face tracks as `fabnet prepare` crops them (the jitter is applied in the worker).
    pub tracks: Vec<Vec<Frame>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum TrainState {
    Running,
    Paused,
    Finished,
}

/// Pictures of one example: target, sources, fused output, masks (planar RGB or grey in
/// [0, 1] at `size`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub size: usize,
    pub target: Vec<f32>,
    pub sources: Vec<Vec<f32>>,
    pub fused: Vec<f32>,
    pub masks: Vec<Vec<f32>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainUpdate {
    pub state: TrainState,
    pub step: u32,
    pub steps: u32,
    /// Windowed loss of the last step.
    pub loss: Option<f64>,
    /// Validation loss, when this step validated.
    pub val_loss: Option<f64>,
    pub window: (f64, f64),
    pub learning_rate: f64,
    pub steps_per_s: f64,
    pub samples: Option<Samples>,
    /// Why training ended early, if it did.
    pub problem: Option<String>,
    /// When a run has ended well: what the model, which now holds what it learned, is.
    pub model: Option<WeightsInfo>,
    /// Which frames validate (and are never trained on), in words.
    pub held_out: String,
    /// When a run has ended well: the landmark probe before and after it, beside an untrained
    /// network and the mean (`None` when too few frames could be labelled).
    pub check: Option<FineTuneCheck>,
    /// Source views of the current stage, and whether its flow decoder is frozen.
    pub views: usize,
    pub frozen_flow: bool,
}
