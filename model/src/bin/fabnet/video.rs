//! Decoding videos with the `ffmpeg` and `ffprobe` programs: raw RGB frames over a pipe.
//!
//! Why ffmpeg rather than a decoder crate: the pure-Rust options decode one codec each (H.264
//! through `openh264`, AV1 through `rav1d`) and leave demuxing mp4/webm/mov to more crates;
//! the `ffmpeg-next` bindings need the libav development headers at build time and break with
//! each ffmpeg major version. The programs read every format users bring, apply rotation
//! metadata, are one `apt install` away, and keep the build free of C libraries.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use fabnet::face::RgbFrame;

pub struct VideoInfo {
    pub width: usize,
    pub height: usize,
    /// From the container; not every format records it.
    pub frames: Option<u64>,
}

fn missing_tool(tool: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow!("`{tool}` is not installed or not on the PATH (Debian/Ubuntu: apt install ffmpeg)")
    } else {
        anyhow!("cannot run `{tool}`: {e}")
    }
}

/// Whether ffmpeg can be run at all: a missing program is fatal, unlike one bad file.
pub fn check_tools() -> Result<()> {
    for tool in ["ffprobe", "ffmpeg"] {
        Command::new(tool).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().map_err(|e| missing_tool(tool, e))?;
    }
    Ok(())
}

/// The last thing ffmpeg said (its summary of the failure), for a one-line error.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no details");
    // "path: Invalid data found..." repeats the path the caller already names.
    line.rsplit_once(": ").map(|(_, why)| why).unwrap_or(line).to_string()
}

pub fn probe(path: &Path) -> Result<VideoInfo> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json"])
        .arg(path)
        .output()
        .map_err(|e| missing_tool("ffprobe", e))?;
    if !out.status.success() {
        bail!("not a video ffmpeg can read ({})", last_line(&out.stderr));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).context("ffprobe gave no JSON")?;
    let stream = &json["streams"][0];
    let (Some(w), Some(h)) = (stream["width"].as_u64(), stream["height"].as_u64()) else {
        bail!("not a video ffmpeg can read (no video stream)");
    };
    // ffmpeg applies rotation metadata (phone videos) when decoding: a quarter turn swaps sides.
    let rotation = stream["side_data_list"].as_array().into_iter().flatten().find_map(|d| d["rotation"].as_i64()).unwrap_or(0);
    let (width, height) = if rotation.rem_euclid(180) == 90 { (h, w) } else { (w, h) };
    let frames = stream["nb_frames"].as_str().and_then(|f| f.parse().ok());
    Ok(VideoInfo { width: width as usize, height: height as usize, frames })
}

/// The frames of a video, in order; an error ends the iteration.
pub struct Frames {
    child: Child,
    stdout: BufReader<ChildStdout>,
    width: usize,
    height: usize,
    path: PathBuf,
    done: bool,
}

pub fn frames(path: &Path, info: &VideoInfo) -> Result<Frames> {
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| missing_tool("ffmpeg", e))?;
    let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped stdout"));
    Ok(Frames { child, stdout, width: info.width, height: info.height, path: path.to_path_buf(), done: false })
}

impl Frames {
    fn finish(&mut self) -> Option<Result<RgbFrame>> {
        self.done = true;
        let mut stderr = Vec::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_end(&mut stderr);
        }
        match self.child.wait() {
            Ok(status) if status.success() => None,
            Ok(_) => Some(Err(anyhow!("{}: decoding failed ({})", self.path.display(), last_line(&stderr)))),
            Err(e) => Some(Err(anyhow!("{}: ffmpeg did not finish ({e})", self.path.display()))),
        }
    }
}

impl Iterator for Frames {
    type Item = Result<RgbFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut pixels = vec![0u8; self.width * self.height * 3];
        let mut filled = 0;
        while filled < pixels.len() {
            match self.stdout.read(&mut pixels[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(anyhow!("{}: reading frames failed ({e})", self.path.display())));
                }
            }
        }
        if filled == 0 {
            return self.finish();
        }
        if filled < pixels.len() {
            return self.finish().or_else(|| Some(Err(anyhow!("{}: the last frame is cut short", self.path.display()))));
        }
        Some(Ok(RgbFrame::new(self.width, self.height, pixels).expect("a full frame")))
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
