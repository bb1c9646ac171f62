//! A run's logs: metrics as CSV, JSONL and TensorBoard events, trimmed on resume so that every
//! row appears once, and the sample re-syntheses as PNG grids.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use fabnet::image_io::from_chw;
use fabnet::session::SampleImages;
use fabnet::tensorboard::EventWriter;
use serde::Serialize;

/// Metrics as CSV and JSONL (pandas, spreadsheets, jq, W&B/MLflow importers all read them) and
/// as TensorBoard events (`tensorboard --logdir` on the run's parent folder).
pub struct Metrics {
    csv: BufWriter<File>,
    jsonl: BufWriter<File>,
    events: EventWriter,
}

#[derive(Serialize)]
pub struct Row {
    pub kind: &'static str,
    pub epoch: u64,
    pub step: u64,
    pub loss: f64,
    pub window_min: f64,
    pub window_max: f64,
    pub lr: f64,
    pub samples_per_s: f64,
    pub bad_frames: usize,
}

impl Metrics {
    /// Opens the run's logs for appending. A resumed run first drops what a killed run logged
    /// after its last checkpoint (`resumed_at`), so that every row appears once.
    pub fn open(out: &Path, resumed_at: Option<Position>) -> Result<Self> {
        if let Some(at) = resumed_at {
            let csv_row = |l: &str| {
                let f: Vec<&str> = l.split(',').collect();
                Some((f.first()?.to_string(), f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
            };
            let json_row = |l: &str| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                Some((v["kind"].as_str()?.to_string(), v["epoch"].as_u64()?, v["step"].as_u64()?))
            };
            trim_rows(&out.join("metrics.csv"), true, at, csv_row)?;
            trim_rows(&out.join("metrics.jsonl"), false, at, json_row)?;
        }
        let open = |name: &str| -> Result<(BufWriter<File>, bool)> {
            let path = out.join(name);
            let fresh = !path.exists();
            let file = File::options().create(true).append(true).open(&path).with_context(|| format!("cannot write {}", path.display()))?;
            Ok((BufWriter::new(file), fresh))
        };
        let (mut csv, fresh) = open("metrics.csv")?;
        if fresh {
            writeln!(csv, "kind,epoch,step,loss,window_min,window_max,lr,samples_per_s,bad_frames")?;
        }
        let (jsonl, _) = open("metrics.jsonl")?;
        let mut events = EventWriter::create(out).with_context(|| format!("cannot write a TensorBoard event file in {}", out.display()))?;
        if let Some(at) = resumed_at {
            // TensorBoard drops every tag from the marker's step on, so it goes just after the
            // checkpoint's last step. (A validation logged at that step after the checkpoint, by
            // a kill between the two, is then shown twice there, with the same value.)
            events.restart(at.step + 1)?;
        }
        Ok(Self { csv, jsonl, events })
    }

    pub fn write(&mut self, row: &Row) -> Result<()> {
        writeln!(
            self.csv,
            "{},{},{},{},{},{},{},{:.2},{}",
            row.kind, row.epoch, row.step, row.loss, row.window_min, row.window_max, row.lr, row.samples_per_s, row.bad_frames
        )?;
        writeln!(self.jsonl, "{}", serde_json::to_string(row)?)?;
        let scalars: &[(&str, f64)] = match row.kind {
            "val" => &[("val/loss", row.loss), ("curriculum/window_min", row.window_min), ("curriculum/window_max", row.window_max)],
            _ => &[("train/loss", row.loss), ("train/lr", row.lr), ("train/samples_per_s", row.samples_per_s), ("data/bad_frames", row.bad_frames as f64)],
        };
        self.events.scalars(row.step, scalars)?;
        self.csv.flush()?;
        self.jsonl.flush()?;
        self.events.flush()?;
        Ok(())
    }

    /// A PNG grid as a file and as TensorBoard's image at `step`.
    pub fn image(&mut self, path: &Path, step: u64, grid: &image::RgbImage) -> Result<()> {
        let mut png = Vec::new();
        grid.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        std::fs::write(path, &png).with_context(|| format!("cannot write {}", path.display()))?;
        self.events.png(step, "samples (target, sources, fused, masks)", &png, grid.width(), grid.height())?;
        Ok(self.events.flush()?)
    }
}

/// A point of a run: the epoch under way and the steps done.
#[derive(Clone, Copy)]
pub struct Position {
    pub epoch: u64,
    pub step: u64,
}

/// Keeps the header (if any) and the rows logged before `at`: training rows up to its step and
/// validation rows of the epochs before its own (a checkpoint made at the end of an epoch's
/// steps validates that epoch again). A row cut short by a kill does not parse and goes too.
/// Rewritten atomically.
fn trim_rows(path: &Path, header: bool, at: Position, row: impl Fn(&str) -> Option<(String, u64, u64)>) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let before = |(kind, epoch, step): (String, u64, u64)| if kind == "val" { epoch < at.epoch } else { step <= at.step };
    let mut kept = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        if (header && i == 0) || row(line).is_some_and(before) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    if kept != text {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, kept)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// Rows of (target, sources..., fused, masks...) for the first examples of a batch.
pub fn grid(samples: &SampleImages) -> image::RgbImage {
    let (rows, s) = (samples.rows, samples.size);
    let mut columns: Vec<(&[f32], usize)> = vec![(&samples.target, 3)];
    columns.extend(samples.sources.iter().map(|v| (v.as_slice(), 3)));
    columns.push((&samples.fused, 3));
    columns.extend(samples.masks.iter().map(|v| (v.as_slice(), 1)));
    let mut grid = image::RgbImage::new((s * columns.len()) as u32, (s * rows) as u32);
    for (c, (values, channels)) in columns.iter().enumerate() {
        for r in 0..rows {
            let plane = &values[r * channels * s * s..(r + 1) * channels * s * s];
            image::imageops::replace(&mut grid, &from_chw(plane, *channels, s, s), (c * s) as i64, (r * s) as i64);
        }
    }
    grid
}
