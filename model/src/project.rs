//! The project file: everything the browser app holds about the user's work, in one file that
//! "Save project" writes and "Open project" (or `fabnet project`) reads back: every clip's face
//! crops and tracks, their embeddings, the attributes taught with their tags, the weights and
//! the training settings.
//!
//! Layout: the magic `fabnetpj`, the format version (u16), the payload's length (u64) and its
//! FNV-1a-64 hash (u64), all little-endian, then the payload (postcard). The hash tells a
//! damaged file from one written by a later version, and nothing is taken from a file that
//! fails it or whose parts do not fit together.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::probe::{Attribute, TeachReport};
use crate::weights;

/// The first bytes of every project file.
pub const MAGIC: &[u8; 8] = b"fabnetpj";
/// The format this version writes, and the latest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Magic, version, payload length, payload hash.
const HEADER_LEN: usize = 8 + 2 + 8 + 8;

/// A face crop: RGB, 8 bits, row-major (what the app stores).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crop {
    pub width: u32,
    pub height: u32,
    #[serde(with = "serde_bytes")]
    pub pixels: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectTrack {
    /// The clip's frame index of each crop.
    pub frame_index: Vec<usize>,
    pub crops: Vec<Crop>,
    /// One per crop, or none (not embedded yet).
    pub embeddings: Vec<Vec<f32>>,
    /// Id of the weights that made the embeddings (the app's FNV-1a id of the weights file,
    /// [`weights_id`]), if known.
    pub weights: Option<String>,
    /// The crop was set by hand.
    pub manual: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectClip {
    pub id: usize,
    pub name: String,
    /// Frames decoded (1 for a still).
    pub frames: usize,
    /// Frames sampled per second of video (frame `i` is at `i / fps` s).
    pub fps: f64,
    /// The first frame, for setting the crop by hand.
    pub first_frame: Option<Crop>,
    pub tracks: Vec<ProjectTrack>,
}

/// A face the user tagged for an attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// [`ProjectClip::id`].
    pub clip: usize,
    /// The track's place in its clip, from 0.
    pub track: usize,
    /// A value of that track's `frame_index`.
    pub frame: usize,
    /// The class index, or the value(s).
    pub target: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaughtAttribute {
    pub attribute: Attribute,
    pub tags: Vec<Tag>,
    /// How it scored when last fitted.
    pub report: Option<TeachReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// A weights file (`fabnet::weights` format, what `fabnet embed --weights` reads).
    #[serde(with = "serde_bytes")]
    pub weights: Vec<u8>,
    pub clips: Vec<ProjectClip>,
    pub attributes: Vec<TaughtAttribute>,
    /// The attribute in the weights' head, an index into `attributes`.
    pub active_attribute: Option<usize>,
    /// The app's training settings, as the app's JSON (the CLI does not read them).
    pub train_settings: String,
}

/// Why a file is not read as a project, or a project not written.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProjectError {
    #[error("not a FAb-Net project file")]
    NotAProject,
    #[error("this is a weights file, not a project: load it with Load weights")]
    WeightsFile,
    #[error("written by a later version of FAb-Net (project format {0}; this one reads {FORMAT_VERSION})")]
    LaterVersion(u16),
    #[error("the file is cut off ({have} of {expected} bytes)")]
    CutOff { have: u64, expected: u64 },
    /// The file fails its hash, does not decode, or its parts do not fit together.
    #[error("the project file is damaged ({0})")]
    Damaged(String),
    /// A project in memory whose parts do not fit together (see [`Project::check`]).
    #[error("the project does not hold together ({0})")]
    Inconsistent(String),
    #[error("cannot write the project ({0})")]
    Encode(String),
}

/// How much a project holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub clips: usize,
    pub tracks: usize,
    /// Crops in all tracks.
    pub faces: usize,
    /// Crops with an embedding.
    pub embedded: usize,
    pub attributes: usize,
    pub tags: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}, {} ({} embedded), {}, {}",
            counted(self.clips, "clip"),
            counted(self.tracks, "track"),
            counted(self.faces, "face"),
            self.embedded,
            counted(self.attributes, "attribute"),
            counted(self.tags, "tag")
        )
    }
}

/// "1 clip", "2 clips".
pub fn counted(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// FNV-1a, 64 bits: the payload's hash, and the app's id of a weights file.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The id the app records with embeddings ([`ProjectTrack::weights`]) for a weights file.
pub fn weights_id(weights: &[u8]) -> String {
    format!("{:016x}", fnv1a_64(weights))
}

impl Project {
    /// The project file; refused when the project does not hold together, since it could not
    /// be opened again.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProjectError> {
        self.check()?;
        let payload = postcard::to_allocvec(self).map_err(|e| ProjectError::Encode(e.to_string()))?;
        Ok(framed(&payload))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Project, ProjectError> {
        let Some(rest) = bytes.strip_prefix(MAGIC) else { return Err(foreign(bytes)) };
        let have = bytes.len() as u64;
        let cut_off = ProjectError::CutOff { have, expected: HEADER_LEN as u64 };
        let (version, rest) = rest.split_first_chunk::<2>().ok_or(cut_off.clone())?;
        match u16::from_le_bytes(*version) {
            0 => return Err(ProjectError::Damaged("its format version is 0".into())),
            FORMAT_VERSION => {}
            later => return Err(ProjectError::LaterVersion(later)),
        }
        let (length, rest) = rest.split_first_chunk::<8>().ok_or(cut_off.clone())?;
        let (hash, payload) = rest.split_first_chunk::<8>().ok_or(cut_off)?;
        let expected =
            u64::from_le_bytes(*length).checked_add(HEADER_LEN as u64).ok_or_else(|| ProjectError::Damaged("its header gives an impossible length".into()))?;
        if have < expected {
            return Err(ProjectError::CutOff { have, expected });
        }
        if have > expected {
            return Err(ProjectError::Damaged(format!("{} bytes more than its header says", have - expected)));
        }
        if fnv1a_64(payload) != u64::from_le_bytes(*hash) {
            return Err(ProjectError::Damaged("its contents do not match their checksum".into()));
        }
        let (project, left): (Project, _) = postcard::take_from_bytes(payload).map_err(|e| ProjectError::Damaged(e.to_string()))?;
        if !left.is_empty() {
            return Err(ProjectError::Damaged(format!("{} bytes left over after the project", left.len())));
        }
        project.inconsistency().map_err(ProjectError::Damaged)?;
        Ok(project)
    }

    /// That the parts fit together: each track has a crop (and, if embedded, an embedding) per
    /// frame, crops hold their pixels, tags name faces the project holds with targets their
    /// attribute takes, and the weights are a readable weights file.
    pub fn check(&self) -> Result<(), ProjectError> {
        self.inconsistency().map_err(ProjectError::Inconsistent)
    }

    pub fn summary(&self) -> Summary {
        let tracks = || self.clips.iter().flat_map(|c| &c.tracks);
        Summary {
            clips: self.clips.len(),
            tracks: tracks().count(),
            faces: tracks().map(|t| t.crops.len()).sum(),
            embedded: tracks().map(|t| t.embeddings.len()).sum(),
            attributes: self.attributes.len(),
            tags: self.attributes.iter().map(|a| a.tags.len()).sum(),
        }
    }

    /// The first thing that does not fit, in words.
    fn inconsistency(&self) -> Result<(), String> {
        let info = weights::read_info(&self.weights).map_err(|e| format!("its weights: {e}"))?;
        let own_weights = weights_id(&self.weights);
        let mut clips = HashMap::new();
        for clip in &self.clips {
            if clips.insert(clip.id, clip).is_some() {
                return Err(format!("two clips have the id {}", clip.id));
            }
            let name = format!("clip '{}'", clip.name);
            if !(clip.fps.is_finite() && clip.fps > 0.0) {
                return Err(format!("{name} was sampled at {} frames per second", clip.fps));
            }
            if let Some(first) = &clip.first_frame {
                check_crop(first).map_err(|e| format!("the first frame of {name}: {e}"))?;
            }
            for (k, track) in clip.tracks.iter().enumerate() {
                let at = format!("track {k} of {name}");
                if track.crops.len() != track.frame_index.len() {
                    return Err(format!("{at} has {} crops for {} frames", track.crops.len(), track.frame_index.len()));
                }
                // A track holds one face per frame, in order: a frame names one crop.
                if track.frame_index.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("the frames of {at} are out of order or repeated"));
                }
                if let Some(&last) = track.frame_index.last()
                    && last >= clip.frames
                {
                    return Err(format!("{at} names frame {last}, and the clip has {} frames", clip.frames));
                }
                for (crop, frame) in track.crops.iter().zip(&track.frame_index) {
                    check_crop(crop).map_err(|e| format!("frame {frame} of {at}: {e}"))?;
                }
                if let Some(first) = track.embeddings.first() {
                    if track.embeddings.len() != track.crops.len() {
                        return Err(format!("{at} has {} embeddings for {} crops", track.embeddings.len(), track.crops.len()));
                    }
                    if first.is_empty() || track.embeddings.iter().any(|e| e.len() != first.len()) {
                        return Err(format!("the embeddings of {at} differ in size"));
                    }
                    // Those the project's weights made are shown and taught from beside one another.
                    if track.weights.as_deref() == Some(own_weights.as_str())
                        && (first.len() != info.config.embedding_dim || track.embeddings.iter().flatten().any(|v| !v.is_finite()))
                    {
                        return Err(format!(
                            "the embeddings of {at} are marked as made by its weights, which give {} finite values each; they hold {}",
                            info.config.embedding_dim,
                            first.len()
                        ));
                    }
                }
            }
        }
        for taught in &self.attributes {
            let attribute = &taught.attribute;
            if attribute.classes.len() == 1 {
                return Err(format!("attribute '{}' has a single class", attribute.name));
            }
            let takes = attribute.task().target_len();
            for tag in &taught.tags {
                let of = format!("a tag of '{}'", attribute.name);
                let clip = clips.get(&tag.clip).ok_or_else(|| format!("{of} names clip id {}, which the project does not hold", tag.clip))?;
                let track = clip
                    .tracks
                    .get(tag.track)
                    .ok_or_else(|| format!("{of} names track {} of clip '{}', which has {} tracks", tag.track, clip.name, clip.tracks.len()))?;
                if track.frame_index.binary_search(&tag.frame).is_err() {
                    return Err(format!("{of} names frame {} of track {} of clip '{}', which that track does not hold", tag.frame, tag.track, clip.name));
                }
                if tag.target.len() != takes || tag.target.iter().any(|v| !v.is_finite()) {
                    return Err(format!("{of} has {} target value(s), the attribute takes {takes} number(s)", tag.target.len()));
                }
                let class = tag.target[0];
                if !attribute.classes.is_empty() && (class < 0.0 || class.fract() != 0.0 || class as usize >= attribute.classes.len()) {
                    return Err(format!("{of} names class {class}, and the attribute has {} classes", attribute.classes.len()));
                }
            }
        }
        if let Some(k) = self.active_attribute
            && k >= self.attributes.len()
        {
            return Err(format!("the active attribute is number {k}, and there are {}", self.attributes.len()));
        }
        Ok(())
    }
}

fn check_crop(crop: &Crop) -> Result<(), String> {
    if crop.width == 0 || crop.height == 0 {
        return Err(format!("an empty crop ({} x {})", crop.width, crop.height));
    }
    let expected = crop.width as u128 * crop.height as u128 * 3;
    if crop.pixels.len() as u128 != expected {
        return Err(format!("a {} x {} crop holds {} bytes, not {expected}", crop.width, crop.height, crop.pixels.len()));
    }
    Ok(())
}

/// The header, then `payload`.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&fnv1a_64(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// Bytes without the project magic: a weights file is told apart, since it is the file a user
/// would most likely pick by mistake.
fn foreign(bytes: &[u8]) -> ProjectError {
    if bytes.starts_with(&burn_pack::MAGIC_NUMBER.to_le_bytes()) && weights::read_info(bytes).is_ok() {
        ProjectError::WeightsFile
    } else {
        ProjectError::NotAProject
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::FabNet;
    use crate::config::FabNetConfig;
    use burn::tensor::Device;

    /// A tiny network's weights file, made once.
    fn tiny_weights() -> Vec<u8> {
        static WEIGHTS: OnceLock<Vec<u8>> = OnceLock::new();
        WEIGHTS
            .get_or_init(|| {
                let model = FabNet::new(FabNetConfig::preset("tiny").unwrap(), &Device::flex()).unwrap();
                weights::to_bytes(&model, &weights::WeightsInfo::for_model(&model, "project test")).unwrap()
            })
            .clone()
    }

    fn crop(seed: u8) -> Crop {
        Crop { width: 4, height: 3, pixels: (0..36).map(|i| seed.wrapping_mul(7).wrapping_add(i)).collect() }
    }

    fn track(frames: std::ops::Range<usize>, embedded: bool) -> ProjectTrack {
        let frame_index: Vec<usize> = frames.collect();
        let crops = frame_index.iter().map(|&f| crop(f as u8)).collect();
        let embeddings = if embedded { frame_index.iter().map(|&f| vec![f as f32, 0.5, -1.0]).collect() } else { Vec::new() };
        ProjectTrack { frame_index, crops, embeddings, weights: embedded.then(|| "0123456789abcdef".into()), manual: false }
    }

    fn project() -> Project {
        let clips = vec![
            ProjectClip { id: 3, name: "Ann".into(), frames: 20, fps: 5.0, first_frame: Some(crop(99)), tracks: vec![track(0..6, true), track(10..13, false)] },
            ProjectClip { id: 8, name: "Bob".into(), frames: 1, fps: 5.0, first_frame: None, tracks: vec![track(0..1, true)] },
        ];
        let mood = TaughtAttribute {
            attribute: Attribute { name: "mood".into(), classes: vec!["smiling".into(), "neutral".into()] },
            tags: vec![Tag { clip: 3, track: 0, frame: 2, target: vec![0.0] }, Tag { clip: 8, track: 0, frame: 0, target: vec![1.0] }],
            report: Some(TeachReport { metric: "accuracy".into(), score: 0.75, baseline: 0.5, folds: 2, examples: 2 }),
        };
        let age = TaughtAttribute {
            attribute: Attribute { name: "age".into(), classes: vec![] },
            tags: vec![Tag { clip: 3, track: 1, frame: 11, target: vec![31.5] }],
            report: None,
        };
        Project { weights: tiny_weights(), clips, attributes: vec![mood, age], active_attribute: Some(0), train_settings: r#"{"steps":10}"#.into() }
    }

    /// A change that makes the project not hold together.
    type Spoil = fn(&mut Project);

    /// The file of `project` as it is, with no check: what a faulty writer could produce.
    fn unchecked_bytes(project: &Project) -> Vec<u8> {
        framed(&postcard::to_allocvec(project).unwrap())
    }

    #[test]
    fn a_project_comes_back_as_it_was_saved() {
        let project = project();
        let bytes = project.to_bytes().unwrap();
        assert!(bytes.starts_with(MAGIC));
        assert_eq!(Project::from_bytes(&bytes).unwrap(), project);
        let summary = project.summary();
        assert_eq!(summary, Summary { clips: 2, tracks: 3, faces: 10, embedded: 7, attributes: 2, tags: 3 });
        assert_eq!(summary.to_string(), "2 clips, 3 tracks, 10 faces (7 embedded), 2 attributes, 3 tags");
    }

    #[test]
    fn other_files_are_told_apart() {
        assert_eq!(Project::from_bytes(b"GIF89a and more"), Err(ProjectError::NotAProject));
        assert_eq!(Project::from_bytes(b""), Err(ProjectError::NotAProject));
        let weights = Project::from_bytes(&tiny_weights()).unwrap_err();
        assert_eq!(weights, ProjectError::WeightsFile);
        assert_eq!(weights.to_string(), "this is a weights file, not a project: load it with Load weights");
    }

    #[test]
    fn a_later_format_is_named() {
        let mut bytes = project().to_bytes().unwrap();
        bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
        let error = Project::from_bytes(&bytes).unwrap_err();
        assert_eq!(error, ProjectError::LaterVersion(2));
        assert_eq!(error.to_string(), "written by a later version of FAb-Net (project format 2; this one reads 1)");
    }

    #[test]
    fn a_cut_off_file_says_how_much_is_there() {
        let bytes = project().to_bytes().unwrap();
        let half = bytes.len() / 2;
        let error = Project::from_bytes(&bytes[..half]).unwrap_err();
        assert_eq!(error, ProjectError::CutOff { have: half as u64, expected: bytes.len() as u64 });
        assert_eq!(error.to_string(), format!("the file is cut off ({half} of {} bytes)", bytes.len()));
        // Inside the header too.
        assert_eq!(Project::from_bytes(&bytes[..12]), Err(ProjectError::CutOff { have: 12, expected: HEADER_LEN as u64 }));
    }

    #[test]
    fn one_changed_byte_is_damage() {
        let mut bytes = project().to_bytes().unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        let error = Project::from_bytes(&bytes).unwrap_err();
        assert!(matches!(error, ProjectError::Damaged(_)), "{error:?}");
        assert!(error.to_string().starts_with("the project file is damaged ("), "{error}");
    }

    #[test]
    fn a_tag_that_points_at_nothing_is_refused() {
        let cases: [(Spoil, &str); 3] = [
            (|p| p.attributes[0].tags[0].clip = 42, "names clip id 42"),
            (|p| p.attributes[0].tags[0].track = 5, "names track 5 of clip 'Ann', which has 2 tracks"),
            (|p| p.attributes[1].tags[0].frame = 7, "names frame 7 of track 1 of clip 'Ann'"),
        ];
        for (spoil, needle) in cases {
            let mut project = project();
            spoil(&mut project);
            let saved = project.to_bytes().unwrap_err();
            assert!(matches!(saved, ProjectError::Inconsistent(_)) && saved.to_string().contains(needle), "{saved}");
            let opened = Project::from_bytes(&unchecked_bytes(&project)).unwrap_err();
            assert!(matches!(opened, ProjectError::Damaged(_)) && opened.to_string().contains(needle), "{opened}");
        }
    }

    #[test]
    fn parts_that_do_not_fit_are_refused() {
        let cases: [(Spoil, &str); 13] = [
            (|p| p.clips[0].fps = 0.0, "clip 'Ann' was sampled at 0 frames per second"),
            (|p| p.clips[0].frames = 12, "track 1 of clip 'Ann' names frame 12, and the clip has 12 frames"),
            (|p| p.clips[0].tracks[0].weights = Some(weights_id(&p.weights)), "which give 32 finite values each; they hold 3"),
            (|p| p.clips[0].tracks[0].crops.truncate(5), "track 0 of clip 'Ann' has 5 crops for 6 frames"),
            (|p| p.clips[0].tracks[0].embeddings.truncate(5), "has 5 embeddings for 6 crops"),
            (|p| p.clips[0].tracks[0].embeddings[3].push(1.0), "embeddings of track 0 of clip 'Ann' differ in size"),
            (|p| p.clips[0].tracks[1].crops[1].pixels.truncate(35), "frame 11 of track 1 of clip 'Ann': a 4 x 3 crop holds 35 bytes, not 36"),
            (|p| p.clips[0].tracks[0].frame_index.swap(1, 2), "out of order"),
            (|p| p.clips[1].id = 3, "two clips have the id 3"),
            (|p| p.attributes[0].tags[0].target = vec![2.0], "names class 2, and the attribute has 2 classes"),
            (|p| p.attributes[1].tags[0].target = vec![1.0, 2.0], "has 2 target value(s), the attribute takes 1"),
            (|p| p.active_attribute = Some(2), "the active attribute is number 2, and there are 2"),
            (|p| p.weights.truncate(1000), "its weights: "),
        ];
        for (spoil, needle) in cases {
            let mut project = project();
            spoil(&mut project);
            let opened = Project::from_bytes(&unchecked_bytes(&project)).unwrap_err();
            assert!(matches!(opened, ProjectError::Damaged(_)) && opened.to_string().contains(needle), "expected '{needle}' in: {opened}");
        }
    }
}
