//! Scanning a face-track dataset and splitting it by identity.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct TrackFolder {
    pub identity: String,
    pub path: PathBuf,
    /// Frame files in name order.
    pub frames: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceTracks {
    pub tracks: Vec<TrackFolder>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DatasetError(pub String);

const FRAME_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DatasetError(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    entries.sort();
    Ok(entries)
}

impl FaceTracks {
    /// Every `IDENTITY/VIDEO/TRACK` folder with at least `min_frames` frames.
    pub fn scan(root: &Path, min_frames: usize) -> Result<Self, DatasetError> {
        let mut tracks = Vec::new();
        for identity in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
            let name = identity.file_name().unwrap().to_string_lossy().into_owned();
            for video in sorted_entries(&identity)?.into_iter().filter(|p| p.is_dir()) {
                for track in sorted_entries(&video)?.into_iter().filter(|p| p.is_dir()) {
                    let frames: Vec<PathBuf> = sorted_entries(&track)?
                        .into_iter()
                        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| FRAME_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())))
                        .collect();
                    if frames.len() >= min_frames {
                        tracks.push(TrackFolder { identity: name.clone(), path: track, frames });
                    }
                }
            }
        }
        if tracks.is_empty() {
            return Err(DatasetError(format!(
                "{}: no face tracks (expected IDENTITY/VIDEO/TRACK/*.jpg with at least {min_frames} frames each, as `fabnet prepare` writes)",
                root.display()
            )));
        }
        Ok(Self { tracks })
    }

    pub fn identities(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.tracks.iter().map(|t| t.identity.as_str()).collect();
        ids.dedup();
        ids
    }

    pub fn frame_count(&self) -> usize {
        self.tracks.iter().map(|t| t.frames.len()).sum()
    }

    /// Split off about `fraction` of the identities (at least one, chosen by `seed`) for
    /// validation, so that no identity is in both. With a single identity there is nothing to
    /// split by: its tracks are split instead, and the caller is told so by `by_identity`.
    pub fn split(self, fraction: f64, seed: u64) -> Split {
        let ids: Vec<String> = self.identities().into_iter().map(String::from).collect();
        if ids.len() < 2 {
            // One person: hold out the last tracks (or the last fifth of one track's frames).
            let mut tracks = self.tracks;
            let n = tracks.len();
            if n >= 2 {
                let k = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
                let val = tracks.split_off(n - k);
                return Split { train: FaceTracks { tracks }, val: FaceTracks { tracks: val }, by_identity: false };
            }
            let mut train = tracks.pop().unwrap();
            let keep = train.frames.len() - (train.frames.len() / 5).max(1);
            let val_frames = train.frames.split_off(keep);
            let val = TrackFolder { frames: val_frames, ..train.clone() };
            return Split { train: FaceTracks { tracks: vec![train] }, val: FaceTracks { tracks: vec![val] }, by_identity: false };
        }
        let mut order: Vec<(u64, &String)> = ids.iter().map(|id| (super::hash::hash(&[seed, fnv(id)]), id)).collect();
        order.sort();
        let k = ((ids.len() as f64 * fraction).round() as usize).clamp(1, ids.len() - 1);
        let held: Vec<&String> = order.iter().take(k).map(|(_, id)| *id).collect();
        let (val, train): (Vec<TrackFolder>, Vec<TrackFolder>) = self.tracks.into_iter().partition(|t| held.contains(&&t.identity));
        Split { train: FaceTracks { tracks: train }, val: FaceTracks { tracks: val }, by_identity: true }
    }
}

pub struct Split {
    pub train: FaceTracks,
    pub val: FaceTracks,
    pub by_identity: bool,
}

/// A stable hash of a name (FNV-1a), so that splits do not depend on the platform.
fn fnv(s: &str) -> u64 {
    crate::project::fnv1a_64(s.as_bytes())
}
