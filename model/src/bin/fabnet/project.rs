//! `fabnet project`: what a project file saved by the app holds, and its faces, weights and
//! tags as files the other commands read (`train` the face tracks, `embed` the weights).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use fabnet::project::{Project, ProjectClip, Tag, TaughtAttribute, counted, weights_id};
use fabnet::weights;

#[derive(clap::Args)]
pub struct ProjectArgs {
    /// A project file from the app's "Save project".
    pub file: PathBuf,
    /// Write every track's crops as PNG frames in the face-track layout `fabnet train` reads:
    /// DIR/IDENTITY/clipID/trackNN/FRAME.png, where IDENTITY is the clip's name with anything
    /// but letters, digits, '.', '_' and '-' made '_' (and "-ID" added when two clips would
    /// share it) and FRAME the frame's index in its clip, six digits. DIR must be new or empty.
    #[arg(long, value_name = "DIR")]
    pub tracks: Option<PathBuf>,
    /// Write the project's weights file here (what `--weights` of the other commands reads).
    /// It must not exist yet.
    #[arg(long, value_name = "OUT")]
    pub weights: Option<PathBuf>,
    /// Write the tags as CSV, one row per tagged face: attribute, clip_id, clip (its name),
    /// track (from 0), frame (index in the clip), label (the class name, or the value(s)
    /// separated by ';') and path (the frame's PNG relative to --tracks DIR; empty without
    /// --tracks). It must not exist yet.
    #[arg(long, value_name = "OUT.csv")]
    pub labels: Option<PathBuf>,
}

pub fn run(args: &ProjectArgs) -> Result<()> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let project = Project::from_bytes(&bytes).map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    // Every refusal before anything is written, so that a refused command leaves no half export.
    for out in [&args.weights, &args.labels].into_iter().flatten() {
        if out.exists() {
            bail!("{} already exists: give a new file name (nothing is overwritten)", out.display());
        }
    }
    if let (Some(weights), Some(labels)) = (&args.weights, &args.labels)
        && weights == labels
    {
        bail!("--weights and --labels both name {}: give each its own file", weights.display());
    }
    if let Some(dir) = &args.tracks {
        check_empty(dir)?;
        // The folder is to hold face tracks only, as `fabnet train` reads them.
        if let Some(inside) = [&args.weights, &args.labels].into_iter().flatten().find(|out| out.starts_with(dir)) {
            bail!("{} is inside the tracks folder {}: write it elsewhere", inside.display(), dir.display());
        }
    }
    print!("{}", describe(&args.file, &project)?);
    let identities = identities(&project.clips);
    if let Some(dir) = &args.tracks {
        let frames = export_tracks(&project, &identities, dir)?;
        eprintln!("wrote {frames} frames of {} tracks to {}", project.summary().tracks, dir.display());
    }
    if let Some(out) = &args.weights {
        create_new(out)?.write_all(&project.weights).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("wrote the weights to {}", out.display());
    }
    if let Some(out) = &args.labels {
        let rows = write_labels(&project, &identities, args.tracks.is_some(), out)?;
        eprintln!("wrote {rows} tags to {}", out.display());
    }
    Ok(())
}

/// A folder to export into: absent, or empty.
fn check_empty(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!("{} is a file, not a folder: give a new or empty folder for the tracks", dir.display());
    }
    if std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?.next().is_some() {
        bail!("{} is not empty: give a new or empty folder for the tracks (nothing is overwritten)", dir.display());
    }
    Ok(())
}

/// A file that did not exist (checked again as it is made, in case it appeared meanwhile).
fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path).with_context(|| format!("cannot create {}", path.display()))
}

/// What the project holds, in words.
fn describe(file: &Path, project: &Project) -> Result<String> {
    let mut out = format!("{}: {}\n", file.display(), project.summary());
    // `from_bytes` has read the header already: this cannot fail on a project it returned.
    let info = weights::read_info(&project.weights)?;
    let c = info.config;
    let head = match (&info.head_task, info.head_outputs) {
        (Some(task), _) => format!("linear head: {task}"),
        (None, Some(k)) => format!("linear head with {k} outputs"),
        (None, None) => "no linear head".into(),
    };
    let id = weights_id(&project.weights);
    out += &format!("weights {id}: {} px faces, {}-d embedding, base width {}, {head}\n", c.image_size, c.embedding_dim, c.base_width);
    if !info.provenance.is_empty() {
        out += &format!("  from: {}\n", info.provenance);
    }
    out += "clips:\n";
    for clip in &project.clips {
        let faces: usize = clip.tracks.iter().map(|t| t.crops.len()).sum();
        let embedded: usize = clip.tracks.iter().map(|t| t.embeddings.len()).sum();
        let current: usize = clip.tracks.iter().filter(|t| t.weights.as_deref() == Some(id.as_str())).map(|t| t.embeddings.len()).sum();
        let frames = if clip.frames > 1 { format!("{} frames at {} fps", clip.frames, clip.fps) } else { counted(clip.frames, "frame") };
        let span = span(clip).map(|s| format!(" over {s:.1} s")).unwrap_or_default();
        let embeddings = match embedded {
            0 => "not embedded".to_string(),
            n if n == faces && current == n => "embedded by these weights".to_string(),
            n => format!("{n} of them embedded, {current} by these weights"),
        };
        out +=
            &format!("  '{}' (id {}): {frames}, {}, {}{span}; {embeddings}\n", clip.name, clip.id, counted(clip.tracks.len(), "track"), counted(faces, "face"));
    }
    if project.attributes.is_empty() {
        out += "no attributes taught\n";
    } else {
        out += "attributes:\n";
    }
    for (k, taught) in project.attributes.iter().enumerate() {
        let attribute = &taught.attribute;
        let active = if project.active_attribute == Some(k) { " (active)" } else { "" };
        let kind = if attribute.classes.is_empty() { "a number".to_string() } else { format!("classes {}", attribute.classes.join(", ")) };
        let tags = if attribute.classes.is_empty() {
            counted(taught.tags.len(), "tag")
        } else {
            let per_class: Vec<String> = attribute
                .classes
                .iter()
                .enumerate()
                .map(|(c, name)| format!("{name} {}", taught.tags.iter().filter(|t| t.target[0] as usize == c).count()))
                .collect();
            format!("{} ({})", counted(taught.tags.len(), "tag"), per_class.join(", "))
        };
        out += &format!("  '{}'{active}: {kind}; {tags}\n", attribute.name);
        out += &format!("    {}\n", taught.report.as_ref().map_or_else(|| "not fitted yet".to_string(), ToString::to_string));
    }
    Ok(out)
}

/// Seconds of video the clip's tracks cover, as the app's clip card counts them; `None` for
/// a still or a clip without tracks.
fn span(clip: &ProjectClip) -> Option<f64> {
    let first = clip.tracks.iter().filter_map(|t| t.frame_index.first()).min()?;
    let last = clip.tracks.iter().filter_map(|t| t.frame_index.last()).max()?;
    (clip.frames > 1 && clip.fps > 0.0).then(|| (last + 1 - first) as f64 / clip.fps)
}

/// Each clip's identity folder, in the order of `clips`: its name made safe for file names,
/// told apart by the clip id where two would be the same.
fn identities(clips: &[ProjectClip]) -> Vec<String> {
    let safe: Vec<String> = clips.iter().map(|c| safe_name(&c.name)).collect();
    let mut taken = HashSet::new();
    clips
        .iter()
        .zip(&safe)
        .map(|(clip, name)| {
            let mut folder = if safe.iter().filter(|s| *s == name).count() > 1 { format!("{name}-{}", clip.id) } else { name.clone() };
            // A clip may be called what another's disambiguated name is.
            while !taken.insert(folder.clone()) {
                folder.push('_');
            }
            folder
        })
        .collect()
}

/// Letters, digits, '.', '_' and '-' kept, the rest '_'; never hidden (a leading '.' is skipped
/// by the folder scan) nor empty.
fn safe_name(name: &str) -> String {
    let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if safe.is_empty() || safe.starts_with('.') { format!("_{safe}") } else { safe }
}

/// A track's folder relative to the export folder, '/'-separated.
fn track_folder(identity: &str, clip: &ProjectClip, track: usize) -> String {
    format!("{identity}/clip{}/track{track:02}", clip.id)
}

fn frame_path(identity: &str, clip: &ProjectClip, track: usize, frame: usize) -> String {
    format!("{}/{frame:06}.png", track_folder(identity, clip, track))
}

/// Every crop as a PNG under `dir`; the number written.
fn export_tracks(project: &Project, identities: &[String], dir: &Path) -> Result<usize> {
    let mut written = 0;
    for (clip, identity) in project.clips.iter().zip(identities) {
        for (k, track) in clip.tracks.iter().enumerate().filter(|(_, t)| !t.crops.is_empty()) {
            let folder = dir.join(track_folder(identity, clip, k));
            std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
            for (crop, &frame) in track.crops.iter().zip(&track.frame_index) {
                let path = dir.join(frame_path(identity, clip, k, frame));
                // `from_bytes` checked that every crop holds its pixels.
                let image = image::RgbImage::from_raw(crop.width, crop.height, crop.pixels.clone()).context("a crop whose size does not match its pixels")?;
                image.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
                written += 1;
            }
        }
    }
    Ok(written)
}

/// The tags as CSV (see `--labels`); the number of rows.
fn write_labels(project: &Project, identities: &[String], with_paths: bool, out: &Path) -> Result<usize> {
    let mut csv = csv::Writer::from_writer(create_new(out)?);
    let failed = |e: csv::Error| anyhow!("cannot write {}: {e}", out.display());
    csv.write_record(["attribute", "clip_id", "clip", "track", "frame", "label", "path"]).map_err(failed)?;
    let mut rows = 0;
    for taught in &project.attributes {
        for tag in &taught.tags {
            // `from_bytes` checked that every tag names a clip of the project.
            let c = project.clips.iter().position(|c| c.id == tag.clip).context("a tag names a clip the project does not hold")?;
            let clip = &project.clips[c];
            let path = if with_paths { frame_path(&identities[c], clip, tag.track, tag.frame) } else { String::new() };
            let record =
                [taught.attribute.name.clone(), clip.id.to_string(), clip.name.clone(), tag.track.to_string(), tag.frame.to_string(), label(taught, tag), path];
            csv.write_record(&record).map_err(failed)?;
            rows += 1;
        }
    }
    csv.flush().with_context(|| format!("cannot write {}", out.display()))?;
    Ok(rows)
}

/// The class's name, or the values separated by ';'.
fn label(taught: &TaughtAttribute, tag: &Tag) -> String {
    match taught.attribute.classes.get(tag.target[0] as usize) {
        Some(class) => class.clone(),
        None => tag.target.iter().map(f32::to_string).collect::<Vec<_>>().join(";"),
    }
}
