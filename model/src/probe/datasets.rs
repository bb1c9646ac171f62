//! Readers for the annotation formats of the paper's probe benchmarks, as they are published:
//! MAFL (CelebA landmark list + split lists), 300-W (iBUG `.pts`), AFLW (`aflw.sqlite`),
//! AffectNet (`training.csv` / `validation.csv`) and a generic `image,<targets...>` CSV.
//! Landmark targets stay in the image's pixels; [`Task::encode`] makes them relative to the
//! face crop the network actually sees.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

pub use super::task::{POSE_NAMES, Rect, Task, TaskKind};

/// One annotated face: the image, the region to crop (whole image when `None`) and its targets
/// (landmarks as x0, y0, x1, y1, ... in pixels; pose as roll, pitch, yaw in degrees; a class
/// as its index; regression values as given).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub image: PathBuf,
    pub crop: Option<Rect>,
    pub targets: Vec<f32>,
}

/// A task and its samples; `excluded` counts annotation rows deliberately left out (AffectNet's
/// none / uncertain / non-face labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub task: Task,
    pub samples: Vec<Sample>,
    pub excluded: usize,
}

pub const AFFECTNET_CLASSES: [&str; 8] = ["Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt"];
/// 300-W's outer eye corners (0-based), the usual inter-ocular normalisation.
pub const IBUG68_OUTER_EYE_CORNERS: (usize, usize) = (36, 45);
/// A loose square around the 68 landmarks (brows to chin), like the training crops.
const LANDMARK_CROP_SCALE: f32 = 1.5;

impl Dataset {
    /// Hold out the last `fraction` of the samples (in file order) as a test set.
    pub fn split_tail(mut self, fraction: f64) -> Result<(Dataset, Dataset)> {
        let test_len = (self.samples.len() as f64 * fraction).round() as usize;
        if test_len == 0 || test_len == self.samples.len() {
            bail!("{} samples are too few to hold out {:.0}% for testing", self.samples.len(), fraction * 100.0);
        }
        let test = self.samples.split_off(self.samples.len() - test_len);
        let test = Dataset { task: self.task.clone(), samples: test, excluded: 0 };
        Ok((self, test))
    }

    /// Check that `other` (a test set) has the same task, renumbering its classes to ours.
    pub fn align(&self, other: &mut Dataset) -> Result<()> {
        match (&self.task.kind, &mut other.task.kind) {
            (TaskKind::Classes { names }, TaskKind::Classes { names: theirs }) => {
                let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
                for sample in &mut other.samples {
                    let name = &theirs[sample.targets[0] as usize];
                    let &i =
                        index.get(name.as_str()).ok_or_else(|| anyhow!("class '{name}' of {} is not among the training classes", sample.image.display()))?;
                    sample.targets[0] = i as f32;
                }
                *theirs = names.clone();
                Ok(())
            }
            (ours, theirs) if ours == theirs => Ok(()),
            (ours, theirs) => bail!("training and test annotations describe different targets ({ours:?} vs {theirs:?})"),
        }
    }
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse_f32(field: &str, path: &Path, line: usize, what: &str) -> Result<f32> {
    match field.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => bail!("{}:{line}: {what} '{field}' is not a number", path.display()),
    }
}

/// CelebA's files, searched around `near` (a MAFL split list's folder) and its parent: the
/// aligned landmark list (at the top or in `Anno/`) and the aligned images
/// (`img_align_celeba/`, or in `Img/`). Each is looked for on its own.
pub fn locate_celeba(near: &Path) -> (Result<PathBuf>, Result<PathBuf>) {
    let roots: Vec<&Path> = [Some(near), near.parent()].into_iter().flatten().collect();
    let find = |candidates: &[&str], is_dir: bool| -> Result<PathBuf> {
        let tried: Vec<PathBuf> = roots.iter().flat_map(|r| candidates.iter().map(move |c| r.join(c))).collect();
        tried.iter().find(|p| if is_dir { p.is_dir() } else { p.is_file() }).cloned().ok_or_else(|| {
            let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            anyhow!("CelebA file not found (looked for {})", list.join(", "))
        })
    };
    (find(&["list_landmarks_align_celeba.txt", "Anno/list_landmarks_align_celeba.txt"], false), find(&["img_align_celeba", "Img/img_align_celeba"], true))
}

/// MAFL: the five CelebA landmarks (eyes, nose, mouth corners) of the images named in `split`
/// (MAFL's `training.txt` or `testing.txt`), from CelebA's `list_landmarks_align_celeba.txt`.
pub fn read_mafl(landmarks: &Path, split: &Path, images: &Path) -> Result<Dataset> {
    let text = read_text(landmarks)?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let declared: usize =
        lines.next().and_then(|(_, l)| l.trim().parse().ok()).ok_or_else(|| anyhow!("{}:1: expected the number of images", landmarks.display()))?;
    match lines.next() {
        Some((_, header)) if header.split_whitespace().next() == Some("lefteye_x") => {}
        _ => bail!("{}:2: expected the header 'lefteye_x lefteye_y righteye_x ...'", landmarks.display()),
    }
    let mut points = HashMap::new();
    for (line, text) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 11 {
            bail!("{}:{line}: expected an image name and 10 coordinates, found {} fields", landmarks.display(), fields.len());
        }
        let coords = fields[1..].iter().map(|f| parse_f32(f, landmarks, line, "coordinate")).collect::<Result<Vec<_>>>()?;
        points.insert(fields[0].to_string(), coords);
    }
    if points.len() != declared {
        bail!("{}: line 1 announces {declared} images but {} are listed (truncated file?)", landmarks.display(), points.len());
    }
    let mut samples = vec![];
    for (i, name) in read_text(split)?.lines().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let targets = points.get(name).ok_or_else(|| anyhow!("{}:{}: image '{name}' has no landmarks in {}", split.display(), i + 1, landmarks.display()))?;
        samples.push(Sample { image: images.join(name), crop: None, targets: targets.clone() });
    }
    if samples.is_empty() {
        bail!("{}: no image names", split.display());
    }
    let kind = TaskKind::Landmarks { points: 5, left_eye: 0, right_eye: 1 };
    Ok(Dataset { task: Task { name: "MAFL".into(), kind }, samples, excluded: 0 })
}

/// One iBUG `.pts` file: `version: 1`, `n_points: N`, `{`, N lines `x y`, `}`.
pub fn read_pts(path: &Path) -> Result<Vec<f32>> {
    let text = read_text(path)?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
    let mut expect = |what: &str| lines.next().ok_or_else(|| anyhow!("{}: ends before {what}", path.display()));
    let (line, version) = expect("the version")?;
    if !version.starts_with("version:") {
        bail!("{}:{line}: expected 'version: 1', found '{version}'", path.display());
    }
    let (line, count) = expect("n_points")?;
    let n: usize = count
        .strip_prefix("n_points:")
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| anyhow!("{}:{line}: expected 'n_points: N', found '{count}'", path.display()))?;
    let (line, open) = expect("'{'")?;
    if open != "{" {
        bail!("{}:{line}: expected '{{', found '{open}'", path.display());
    }
    let mut coords = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let (line, point) = expect("all points are listed")?;
        let fields: Vec<&str> = point.split_whitespace().collect();
        if fields.len() != 2 {
            bail!("{}:{line}: expected 'x y', found '{point}'", path.display());
        }
        for f in fields {
            coords.push(parse_f32(f, path, line, "coordinate")?);
        }
    }
    let (line, close) = expect("'}'")?;
    if close != "}" {
        bail!("{}:{line}: expected '}}' after {n} points, found '{close}'", path.display());
    }
    Ok(coords)
}

fn pts_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?;
    for entry in entries {
        let path = entry.with_context(|| format!("cannot read folder {}", dir.display()))?.path();
        if path.is_dir() {
            pts_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("pts")) {
            found.push(path);
        }
    }
    Ok(())
}

/// 300-W: every `.pts` (68 points) under `root`, with the image of the same name beside it,
/// cropped to a loose square around its landmarks.
pub fn read_300w(root: &Path) -> Result<Dataset> {
    let mut files = vec![];
    pts_files(root, &mut files)?;
    files.sort();
    if files.is_empty() {
        bail!("no .pts files under {}", root.display());
    }
    let mut samples = vec![];
    for pts in files {
        let targets = read_pts(&pts)?;
        if targets.len() != 2 * 68 {
            bail!("{}: {} points, 300-W has 68", pts.display(), targets.len() / 2);
        }
        let image = ["png", "jpg", "jpeg", "ppm", "PNG", "JPG", "JPEG", "PPM"]
            .iter()
            .map(|ext| pts.with_extension(ext))
            .find(|p| p.is_file())
            .ok_or_else(|| anyhow!("{}: no image beside it (looked for .png, .jpg, .jpeg, .ppm)", pts.display()))?;
        samples.push(Sample { image, crop: Some(landmark_square(&targets)), targets });
    }
    let (left_eye, right_eye) = IBUG68_OUTER_EYE_CORNERS;
    let kind = TaskKind::Landmarks { points: 68, left_eye, right_eye };
    Ok(Dataset { task: Task { name: "300-W".into(), kind }, samples, excluded: 0 })
}

fn landmark_square(coords: &[f32]) -> Rect {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in coords.chunks_exact(2) {
        (x0, x1, y0, y1) = (x0.min(p[0]), x1.max(p[0]), y0.min(p[1]), y1.max(p[1]));
    }
    let side = LANDMARK_CROP_SCALE * (x1 - x0).max(y1 - y0);
    Rect { x: (x0 + x1 - side) / 2.0, y: (y0 + y1 - side) / 2.0, width: side, height: side }
}

/// AFLW head pose from the official `aflw.sqlite`: every face with a pose and a face rectangle,
/// its image under `images` (the folder the database's `filepath`s start from, `flickr/`).
/// The database stores radians; targets are degrees.
pub fn read_aflw(db: &Path, images: &Path) -> Result<Dataset> {
    use rusqlite::{Connection, OpenFlags};
    if !db.is_file() {
        bail!("cannot read {}: no such file", db.display());
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).with_context(|| format!("cannot open {}", db.display()))?;
    let query = "SELECT Faces.face_id, FaceImages.filepath, FacePose.roll, FacePose.pitch, FacePose.yaw, \
                 FaceRect.x, FaceRect.y, FaceRect.w, FaceRect.h \
                 FROM Faces JOIN FaceImages ON Faces.file_id = FaceImages.file_id \
                 JOIN FacePose ON FacePose.face_id = Faces.face_id \
                 JOIN FaceRect ON FaceRect.face_id = Faces.face_id ORDER BY Faces.face_id";
    let not_aflw = |e: rusqlite::Error| anyhow!("{}: not the AFLW database ({e})", db.display());
    let mut statement = conn.prepare(query).map_err(not_aflw)?;
    let mut rows = statement.query([]).map_err(not_aflw)?;
    let mut samples = vec![];
    let mut last_face = None;
    while let Some(row) = rows.next().map_err(not_aflw)? {
        let face: i64 = row.get(0).map_err(not_aflw)?;
        // A face annotated twice keeps its first pose.
        if last_face == Some(face) {
            continue;
        }
        last_face = Some(face);
        let bad = |column: usize, e: rusqlite::Error| anyhow!("{}: face_id {face}: bad column {column} ({e})", db.display());
        let filepath: String = row.get(1).map_err(|e| bad(1, e))?;
        let number = |i: usize| -> Result<f64> {
            let v: f64 = row.get(i).map_err(|e| bad(i, e))?;
            if v.is_finite() { Ok(v) } else { Err(anyhow!("{}: face_id {face}: column {i} is not finite", db.display())) }
        };
        let targets = [number(2)?, number(3)?, number(4)?].map(|r| r.to_degrees() as f32).to_vec();
        let crop = Rect { x: number(5)? as f32, y: number(6)? as f32, width: number(7)? as f32, height: number(8)? as f32 };
        samples.push(Sample { image: images.join(filepath), crop: Some(crop), targets });
    }
    if samples.is_empty() {
        bail!("{}: no face has both a pose and a rectangle", db.display());
    }
    Ok(Dataset { task: Task { name: "AFLW".into(), kind: TaskKind::Pose }, samples, excluded: 0 })
}

fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new().from_path(path).with_context(|| format!("cannot read {}", path.display()))
}

fn record_line(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

fn csv_error(path: &Path, e: csv::Error) -> anyhow::Error {
    match e.position() {
        Some(p) => anyhow!("{}:{}: {e}", path.display(), p.line()),
        None => anyhow!("{}: {e}", path.display()),
    }
}

/// AffectNet's `training.csv` / `validation.csv`: eight expressions, face boxes, image paths
/// under `images` (`Manually_Annotated_Images/`). Labels 8-10 (none, uncertain, non-face)
/// are left out and counted in [`Dataset::excluded`].
pub fn read_affectnet(path: &Path, images: &Path) -> Result<Dataset> {
    let mut reader = csv_reader(path)?;
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let column =
        |name: &str| headers.iter().position(|h| h.trim() == name).ok_or_else(|| anyhow!("{}:1: no '{name}' column (not an AffectNet list?)", path.display()));
    let [file, x, y, w, h, expression] = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression"].map(column);
    let (file, x, y, w, h, expression) = (file?, x?, y?, w?, h?, expression?);
    let mut samples = vec![];
    let mut excluded = 0;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record_line(&record) as usize;
        let field = |i: usize| record.get(i).unwrap_or("");
        let label: u32 =
            field(expression).trim().parse().map_err(|_| anyhow!("{}:{line}: expression '{}' is not an integer", path.display(), field(expression)))?;
        match label {
            0..=7 => {}
            8..=10 => {
                excluded += 1;
                continue;
            }
            _ => bail!("{}:{line}: expression {label} is outside 0-10", path.display()),
        }
        let number = |i: usize, what: &str| parse_f32(field(i), path, line, what);
        let crop = Rect { x: number(x, "face_x")?, y: number(y, "face_y")?, width: number(w, "face_width")?, height: number(h, "face_height")? };
        samples.push(Sample { image: images.join(field(file).trim()), crop: Some(crop), targets: vec![label as f32] });
    }
    if samples.is_empty() {
        bail!("{}: no face with an expression label 0-7", path.display());
    }
    let names = AFFECTNET_CLASSES.iter().map(|s| s.to_string()).collect();
    Ok(Dataset { task: Task { name: "AffectNet".into(), kind: TaskKind::Classes { names } }, samples, excluded })
}

/// A CSV `image,<target names...>`, image paths relative to the CSV's folder. With `classes`,
/// its single target column holds labels (numbers or words); classes are its distinct labels,
/// in numeric order when all are integers.
pub fn read_csv(path: &Path, classes: bool) -> Result<Dataset> {
    let mut reader = csv_reader(path)?;
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    if headers.get(0).map(str::trim) != Some("image") || headers.len() < 2 {
        bail!("{}:1: expected the header 'image,<target names...>'", path.display());
    }
    let names: Vec<String> = headers.iter().skip(1).map(|h| h.trim().to_string()).collect();
    if classes && names.len() != 1 {
        bail!("{}:1: classification takes one label column, found {}", path.display(), names.len());
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut rows = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record_line(&record) as usize;
        let image = folder.join(record.get(0).unwrap_or("").trim());
        let fields: Vec<&str> = record.iter().skip(1).collect();
        if fields.len() != names.len() {
            bail!("{}:{line}: {} targets, the header names {}", path.display(), fields.len(), names.len());
        }
        rows.push((image, line, fields.iter().map(|f| f.trim().to_string()).collect::<Vec<_>>()));
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    let name = "CSV".to_string();
    if !classes {
        let samples = rows
            .into_iter()
            .map(|(image, line, fields)| {
                let targets = fields.iter().zip(&names).map(|(f, n)| parse_f32(f, path, line, n)).collect::<Result<_>>()?;
                Ok(Sample { image, crop: None, targets })
            })
            .collect::<Result<_>>()?;
        return Ok(Dataset { task: Task { name, kind: TaskKind::Regression { names } }, samples, excluded: 0 });
    }
    let labels: BTreeSet<&str> = rows.iter().map(|(_, _, f)| f[0].as_str()).collect();
    let mut labels: Vec<&str> = labels.into_iter().collect();
    if labels.iter().all(|l| l.parse::<i64>().is_ok()) {
        labels.sort_by_key(|l| l.parse::<i64>().unwrap_or_default());
    }
    let index: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let samples = rows.iter().map(|(image, _, f)| Sample { image: image.clone(), crop: None, targets: vec![index[f[0].as_str()] as f32] }).collect();
    let names = labels.iter().map(|l| l.to_string()).collect();
    Ok(Dataset { task: Task { name, kind: TaskKind::Classes { names } }, samples, excluded: 0 })
}
