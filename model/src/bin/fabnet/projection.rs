//! `fabnet embed --projection`: the explorer's 2-D layouts (PCA, t-SNE, UMAP) written as a
//! table and a figure, so a researcher gets them without the browser.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use fabnet::explore::Projection;
use fabnet::layout::{self, Method};

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum Kind {
    Pca,
    Tsne,
    Umap,
}

#[derive(Args, Debug)]
pub struct ProjectionArgs {
    /// Also lay the embeddings out in 2-D, as the app's explorer does, and write
    /// PREFIX.csv (image, clip, track, frame, x, y) and PREFIX.svg (the points coloured by clip).
    #[arg(long, value_enum)]
    pub projection: Option<Kind>,
    /// Where the layout goes (PREFIX of the two files).
    #[arg(long, default_value = "projection", requires = "projection")]
    pub projection_out: PathBuf,
    /// t-SNE's perplexity (held between 2 and 100, and below a third of the faces).
    #[arg(long, default_value_t = 30.0, requires = "projection")]
    pub perplexity: f32,
    /// UMAP's neighbours, the point itself included (held between 2 and 100).
    #[arg(long, default_value_t = 15, requires = "projection")]
    pub neighbours: usize,
}

/// `fabnet layout`: the embeddings and names from the Embedding Projector's files.
pub fn from_files(tensors: &Path, metadata: Option<&Path>, args: &ProjectionArgs) -> Result<()> {
    let kind = args.projection.context("say which layout: --projection pca, tsne or umap")?;
    let read = |path: &Path| std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()));
    let embeddings = read(tensors)?
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(k, line)| {
            line.split('\t')
                .map(|v| v.trim().parse::<f32>())
                .collect::<Result<Vec<f32>, _>>()
                .with_context(|| format!("{} line {}: not numbers", tensors.display(), k + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    let rows: Vec<Vec<String>> = match metadata {
        None => (1..=embeddings.len()).map(|k| vec![k.to_string(), String::new(), String::new(), String::new()]).collect(),
        Some(path) => {
            let text = read(path)?;
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
            let column = |name: &str| header.iter().position(|h| *h == name);
            let columns = [column("image"), column("clip"), column("track"), column("frame")];
            let rows: Vec<Vec<String>> = lines
                .enumerate()
                .map(|(k, line)| {
                    let fields: Vec<&str> = line.split('\t').collect();
                    let field = |c: Option<usize>| c.and_then(|c| fields.get(c)).map(|f| f.to_string()).unwrap_or_default();
                    let image = columns[0].map(|c| field(Some(c))).unwrap_or_else(|| (k + 1).to_string());
                    vec![image, field(columns[1]), field(columns[2]), field(columns[3])]
                })
                .collect();
            anyhow::ensure!(rows.len() == embeddings.len(), "{} names {} points, {} holds {}", path.display(), rows.len(), tensors.display(), embeddings.len());
            rows
        }
    };
    write(args, kind, &embeddings, &rows)
}

/// Neighbours in the plane counted by the agreement figure.
const AGREEMENT_K: usize = 10;

/// Lay out `embeddings` of faces described by `rows` (image, clip, track, frame) and write the
/// table and the figure; reports on stderr how well the layout keeps clips apart.
pub fn write(args: &ProjectionArgs, kind: Kind, embeddings: &[Vec<f32>], rows: &[Vec<String>]) -> Result<()> {
    let started = Instant::now();
    let (name, xy) = match kind {
        Kind::Pca => {
            let projection = Projection::fit(embeddings).context("a PCA layout needs at least two faces")?;
            ("PCA", embeddings.iter().map(|e| projection.project(e)).collect::<Vec<_>>())
        }
        Kind::Tsne | Kind::Umap => {
            let method = if kind == Kind::Tsne { Method::Tsne { perplexity: args.perplexity } } else { Method::Umap { neighbours: args.neighbours } };
            (method.name(), layout::layout(embeddings, method, &mut |_, _, _| {})?)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    // Clips numbered in order of first appearance: the figure's colours and the agreement's labels.
    let mut clips: BTreeMap<String, usize> = BTreeMap::new();
    let mut order = Vec::new();
    let labels: Vec<usize> = rows
        .iter()
        .map(|r| {
            let next = clips.len();
            *clips.entry(r[1].clone()).or_insert_with(|| {
                order.push(r[1].clone());
                next
            })
        })
        .collect();
    let csv_path = with_extension(&args.projection_out, "csv");
    let mut csv = String::from("image,clip,track,frame,x,y\n");
    for (row, p) in rows.iter().zip(&xy) {
        let quoted: Vec<String> = row.iter().map(|v| quote(v)).collect();
        writeln!(csv, "{},{},{}", quoted.join(","), p[0], p[1]).expect("writing to a string");
    }
    std::fs::write(&csv_path, csv).with_context(|| format!("cannot write {}", csv_path.display()))?;
    let svg_path = with_extension(&args.projection_out, "svg");
    std::fs::write(&svg_path, figure(name, &xy, &labels, &order)).with_context(|| format!("cannot write {}", svg_path.display()))?;
    let agreement = layout::neighbour_agreement(&xy, &labels, AGREEMENT_K);
    eprintln!(
        "{name} of {} faces in {seconds:.1} s: {} and {}; of each face's {AGREEMENT_K} nearest in the plane, {:.0}% are of its clip (chance {:.0}%)",
        xy.len(),
        csv_path.display(),
        svg_path.display(),
        100.0 * agreement,
        100.0 * layout::chance_agreement(&labels)
    );
    Ok(())
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn quote(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_string() }
}

/// The points coloured by clip (the explorer's colours), with a legend.
fn figure(name: &str, xy: &[[f32; 2]], labels: &[usize], clips: &[String]) -> String {
    const W: f32 = 640.0;
    const H: f32 = 480.0;
    const M: f32 = 20.0;
    let lo = |d: usize| xy.iter().map(|p| p[d]).fold(f32::INFINITY, f32::min);
    let hi = |d: usize| xy.iter().map(|p| p[d]).fold(f32::NEG_INFINITY, f32::max);
    let scale = 1.0 / ((hi(0) - lo(0)) / (W - 2.0 * M)).max((hi(1) - lo(1)) / (H - 2.0 * M)).max(1e-6);
    let hue = layout::group_colour;
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let legend_height = 18.0 * clips.len() as f32;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<text x=\"{M}\" y=\"14\">{} of {} faces</text>\n",
        H + legend_height + M,
        escape(name),
        xy.len()
    );
    for (p, &label) in xy.iter().zip(labels) {
        let (x, y) = (M + (p[0] - lo(0)) * scale, H - M - (p[1] - lo(1)) * scale);
        writeln!(svg, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{}\" fill-opacity=\"0.8\"/>", hue(label)).expect("writing to a string");
    }
    for (k, clip) in clips.iter().enumerate() {
        let y = H + 18.0 * k as f32;
        writeln!(
            svg,
            "<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            M + 5.0,
            y + 5.0,
            hue(k),
            M + 16.0,
            y + 9.0,
            escape(clip)
        )
        .expect("writing to a string");
    }
    svg.push_str("</svg>\n");
    svg
}
