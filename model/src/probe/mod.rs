//! Linear probes on frozen FAb-Net embeddings, as the paper evaluates them: landmarks (MAFL,
//! 300-W), head pose (AFLW), expression (AffectNet) or any CSV of targets. Embed the images,
//! fit a ridge probe on the training set, report the metric on the test set next to the
//! "predict the training mean" (or majority class) baseline, and optionally turn the probe
//! into the model's linear head.

#[cfg(feature = "native")]
pub mod datasets;
#[cfg(feature = "native")]
pub mod embed;
#[cfg(feature = "native")]
pub mod evaluate;
pub mod fit;
pub mod head;
pub mod linear;
pub mod metrics;
pub mod task;
pub mod teach;

#[cfg(feature = "native")]
pub use datasets::{Dataset, Sample};
#[cfg(feature = "native")]
pub use embed::{Embedded, Features, embed_samples, extract_features};
#[cfg(feature = "native")]
pub use evaluate::{Baselines, Counts, EvalOptions, Evaluation, Progress, Report, evaluate};
pub use fit::{CheckFrames, FineTuneCheck, Fitted, Labelled, fine_tune_check, fit_and_score, five_landmarks, mean_score, pixel_side};
pub use head::to_head;
pub use linear::{Lambda, Probe};
pub use metrics::Score;
pub use task::{Rect, Task, TaskKind};
pub use teach::{Attribute, Taught, TeachReport, answer, class_names, teach};
