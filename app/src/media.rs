//! The browser's own decoders: images, video files (streamed through WebCodecs where the
//! browser has it, a `<video>` seeked frame by frame otherwise) and the webcam, all drawn
//! through a canvas into RGB frames; and frames back to pictures for display.

use crate::webcodecs::StreamReader;
use fabnet::face::RgbFrame;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, File, HtmlCanvasElement, HtmlImageElement, HtmlVideoElement, MediaStream, Url};

/// Frames are analysed at most this large (long side): enough for faces, light on the GPU.
pub const MAX_SIDE: u32 = 480;

fn js_err(what: &str) -> impl Fn(JsValue) -> String + '_ {
    move |e| format!("{what}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

fn document() -> Result<web_sys::Document, String> {
    web_sys::window().and_then(|w| w.document()).ok_or_else(|| "no document".to_string())
}

pub(crate) fn canvas(width: u32, height: u32) -> Result<(HtmlCanvasElement, CanvasRenderingContext2d), String> {
    let canvas: HtmlCanvasElement = document()?.create_element("canvas").map_err(js_err("no canvas"))?.dyn_into().map_err(|_| "no canvas")?;
    canvas.set_width(width);
    canvas.set_height(height);
    // Frames are read back from these canvases: a CPU-backed one reads without a GPU round trip.
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"willReadFrequently".into(), &JsValue::TRUE).map_err(js_err("no 2d context"))?;
    let ctx = canvas
        .get_context_with_context_options("2d", &options)
        .map_err(js_err("no 2d context"))?
        .ok_or("no 2d context")?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(|_| "no 2d context")?;
    Ok((canvas, ctx))
}

/// Size that fits `MAX_SIDE`, keeping the aspect ratio.
pub(crate) fn fitted(width: u32, height: u32) -> (u32, u32) {
    let scale = (MAX_SIDE as f64 / width.max(height) as f64).min(1.0);
    (((width as f64 * scale).round() as u32).max(1), ((height as f64 * scale).round() as u32).max(1))
}

pub(crate) fn read_pixels(ctx: &CanvasRenderingContext2d, width: u32, height: u32) -> Result<RgbFrame, String> {
    let rgba = ctx.get_image_data(0.0, 0.0, width as f64, height as f64).map_err(js_err("cannot read pixels"))?.data();
    RgbFrame::from_rgba(width as usize, height as usize, &rgba).ok_or_else(|| "unexpected pixel buffer".to_string())
}

pub fn is_video(file: &File) -> bool {
    let kind = file.type_();
    let name = file.name().to_lowercase();
    kind.starts_with("video/") || [".mp4", ".webm", ".mov", ".m4v", ".mkv"].iter().any(|e| name.ends_with(e))
}

/// Decode a still image.
pub async fn decode_image(file: &File) -> Result<RgbFrame, String> {
    let url = Url::create_object_url_with_blob(file).map_err(js_err("cannot read the file"))?;
    let img = HtmlImageElement::new().map_err(js_err("no image element"))?;
    img.set_src(&url);
    let decoded = JsFuture::from(img.decode()).await;
    Url::revoke_object_url(&url).ok();
    decoded.map_err(|_| format!("{} is not an image or video this browser can decode", file.name()))?;
    let (w, h) = fitted(img.natural_width(), img.natural_height());
    let (_, ctx) = canvas(w, h)?;
    ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, 0.0, 0.0, w as f64, h as f64).map_err(js_err("cannot draw the image"))?;
    read_pixels(&ctx, w, h)
}

/// How long the browser may take to produce a frame before the file counts as stalled.
const STALL_MS: i32 = 15_000;

enum Waited {
    Fired,
    Failed,
    TimedOut,
}

/// Waits for the first `ok` event of `target`, its first `error` event, or `STALL_MS`.
async fn next_event(target: &web_sys::EventTarget, ok: &str) -> Waited {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let opts = web_sys::AddEventListenerOptions::new();
        opts.set_once(true);
        let _ = target.add_event_listener_with_callback_and_add_event_listener_options(ok, &resolve, &opts);
        let _ = target.add_event_listener_with_callback_and_add_event_listener_options("error", &reject, &opts);
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_1(&reject, STALL_MS, &JsValue::from_str("stalled"));
        }
    });
    match JsFuture::from(promise).await {
        Ok(_) => Waited::Fired,
        Err(e) if e.as_string().as_deref() == Some("stalled") => Waited::TimedOut,
        Err(_) => Waited::Failed,
    }
}

/// A video file read `fps` frames per second from its start to its end, as a stream through
/// WebCodecs when it can (each frame decoded once), else by seeking a `<video>`. Either way only
/// a few frames are in memory at a time, whatever the clip's length.
pub enum VideoReader {
    Stream(StreamReader),
    Seek(SeekingReader),
}

impl VideoReader {
    pub async fn open(file: &File, fps: f64) -> Result<Self, String> {
        match StreamReader::open(file, fps).await? {
            Some(stream) => Ok(Self::Stream(stream)),
            None => Ok(Self::Seek(SeekingReader::open(file, fps).await?)),
        }
    }

    /// Length in seconds, when the file tells (or the browser found it).
    pub fn duration(&self) -> Option<f64> {
        match self {
            Self::Stream(s) => Some(s.duration()),
            Self::Seek(s) => s.duration(),
        }
    }

    /// Frames the reader will give, when the length is known.
    pub fn frames(&self) -> Option<usize> {
        match self {
            Self::Stream(s) => Some(s.frames()),
            Self::Seek(s) => s.frames(),
        }
    }

    /// How the frames are decoded, for the clip's card.
    pub fn decoder(&self) -> String {
        match self {
            Self::Stream(s) => format!("WebCodecs ({})", s.codec()),
            Self::Seek(_) => "the video element".into(),
        }
    }

    /// Frames the file's own index lists but its bytes do not hold (a cut-off download).
    pub fn truncated(&self) -> bool {
        matches!(self, Self::Stream(s) if s.truncated())
    }

    /// The next frame, or `None` past the end. A stream the decoder refuses before its first
    /// frame (a codec string it reports supported but cannot decode) is read again by seeking.
    pub async fn next_frame(&mut self, file: &File, fps: f64) -> Result<Option<RgbFrame>, String> {
        match self {
            Self::Stream(s) => match s.next_frame().await {
                Err(e) if s.delivered() == 0 => {
                    web_sys::console::warn_1(&format!("{e}; decoding with the <video> element instead").into());
                    *self = Self::Seek(SeekingReader::open(file, fps).await?);
                    Box::pin(self.next_frame(file, fps)).await
                }
                other => other,
            },
            Self::Seek(s) => s.next_frame().await,
        }
    }
}

/// A video file read by seeking a `<video>` element to each sampling time. The element and its
/// object URL go when the reader is dropped.
pub struct SeekingReader {
    name: String,
    video: HtmlVideoElement,
    url: String,
    ctx: CanvasRenderingContext2d,
    size: (u32, u32),
    fps: f64,
    duration: Option<f64>,
    next: usize,
}

fn undecodable(name: &str) -> String {
    format!("{name} is not a video this browser can decode")
}

/// The video's length, when it is known.
fn known_duration(video: &HtmlVideoElement) -> Option<f64> {
    Some(video.duration()).filter(|d| d.is_finite() && *d > 0.0)
}

/// Waits for `event` on `video` (of file `name`, at `at` s), turning an error or a stall into
/// a message for the user.
async fn wait(video: &HtmlVideoElement, name: &str, event: &str, at: f64) -> Result<(), String> {
    match next_event(video, event).await {
        Waited::Fired => Ok(()),
        Waited::Failed if at > 0.0 => {
            // `video.error.message` (read by name: web-sys's MediaError is not enabled).
            let message = js_sys::Reflect::get(video, &"error".into()).and_then(|e| js_sys::Reflect::get(&e, &"message".into()));
            let why = message.ok().and_then(|m| m.as_string()).filter(|m| !m.is_empty()).map(|m| format!(" ({m})")).unwrap_or_default();
            Err(format!("{name}: the browser could not decode the video at {at:.1} s{why}; the file may be damaged"))
        }
        Waited::Failed => Err(undecodable(name)),
        Waited::TimedOut => Err(format!("{name}: the browser stopped decoding at {at:.1} s (nothing for {} s); the file may be damaged", STALL_MS / 1000)),
    }
}

impl SeekingReader {
    pub async fn open(file: &File, fps: f64) -> Result<Self, String> {
        let name = file.name();
        let url = Url::create_object_url_with_blob(file).map_err(js_err("cannot read the file"))?;
        let video: HtmlVideoElement = document()?.create_element("video").map_err(js_err("no video element"))?.dyn_into().map_err(|_| "no video")?;
        video.set_muted(true);
        video.set_preload("auto");
        video.set_src(&url);
        let (_, ctx) = canvas(1, 1)?;
        // From here on, dropping the reader releases the element and the URL, also on failure.
        let mut reader = Self { name, video, url, ctx, size: (0, 0), fps, duration: None, next: 0 };
        wait(&reader.video, &reader.name, "loadeddata", 0.0).await?;
        let (vw, vh) = (reader.video.video_width(), reader.video.video_height());
        if vw == 0 || vh == 0 {
            return Err(undecodable(&reader.name));
        }
        if known_duration(&reader.video).is_none() {
            // A MediaRecorder webm has no duration in its header; seeking far past the end
            // makes the browser find it.
            reader.video.set_current_time(1e9);
            wait(&reader.video, &reader.name, "seeked", 0.0).await?;
        }
        reader.size = fitted(vw, vh);
        reader.ctx = canvas(reader.size.0, reader.size.1)?.1;
        reader.duration = known_duration(&reader.video);
        Ok(reader)
    }

    /// Length in seconds, when the file tells (or the browser found it).
    pub fn duration(&self) -> Option<f64> {
        self.duration
    }

    /// Frames the reader will give, when the length is known.
    pub fn frames(&self) -> Option<usize> {
        self.duration.map(|d| ((d * self.fps).floor() as usize).max(1))
    }

    /// The next frame, or `None` past the end.
    pub async fn next_frame(&mut self) -> Result<Option<RgbFrame>, String> {
        if self.frames().is_some_and(|n| self.next >= n) {
            return Ok(None);
        }
        let at = self.next as f64 / self.fps;
        self.video.set_current_time(at);
        wait(&self.video, &self.name, "seeked", at).await?;
        // Without a known length, the end is where seeking stops moving forward.
        if self.duration.is_none() && self.next > 0 && self.video.current_time() + 0.5 / self.fps < at {
            return Ok(None);
        }
        let (w, h) = self.size;
        self.ctx.draw_image_with_html_video_element_and_dw_and_dh(&self.video, 0.0, 0.0, w as f64, h as f64).map_err(js_err("cannot draw the frame"))?;
        self.next += 1;
        read_pixels(&self.ctx, w, h).map(Some)
    }
}

impl Drop for SeekingReader {
    fn drop(&mut self) {
        self.video.remove_attribute("src").ok();
        self.video.load();
        Url::revoke_object_url(&self.url).ok();
    }
}

/// Planar RGB in [0, 1] (`size` x `size`) as a PNG data URL, for thumbnails.
pub fn planar_to_data_url(planar: &[f32], size: usize) -> Result<String, String> {
    let (canvas, ctx) = canvas(size as u32, size as u32)?;
    let plane = size * size;
    let mut rgba = vec![255u8; plane * 4];
    for i in 0..plane {
        for c in 0..3 {
            rgba[i * 4 + c] = (planar[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&rgba), size as u32, size as u32).map_err(js_err("no image data"))?;
    ctx.put_image_data(&data, 0.0, 0.0).map_err(js_err("cannot draw"))?;
    canvas.to_data_url().map_err(js_err("cannot encode"))
}

/// A frame drawn onto a visible canvas (the crop editor, the webcam view), with a face box
/// `(x, y, width, height)` outlined on it when given.
pub fn draw_frame(target: &HtmlCanvasElement, frame: &RgbFrame, face: Option<(f64, f64, f64, f64)>) -> Result<(), String> {
    // Setting a canvas's size, even to the same, clears and reallocates it: a live view
    // draws many frames of one size.
    if (target.width(), target.height()) != (frame.width as u32, frame.height as u32) {
        target.set_width(frame.width as u32);
        target.set_height(frame.height as u32);
    }
    let ctx = target
        .get_context("2d")
        .map_err(js_err("no 2d context"))?
        .ok_or("no 2d context")?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(|_| "no 2d context")?;
    let rgba: Vec<u8> = frame.pixels.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&rgba), frame.width as u32, frame.height as u32)
        .map_err(js_err("no image data"))?;
    ctx.put_image_data(&data, 0.0, 0.0).map_err(js_err("cannot draw"))?;
    if let Some((x, y, w, h)) = face {
        ctx.set_stroke_style_str("#22c55e");
        ctx.set_line_width(2.0);
        ctx.stroke_rect(x, y, w, h);
    }
    Ok(())
}

/// The camera, playing into a hidden video element.
pub struct Webcam {
    video: HtmlVideoElement,
    stream: MediaStream,
    ctx: Option<(CanvasRenderingContext2d, u32, u32)>,
}

impl Webcam {
    pub async fn start() -> Result<Self, String> {
        let devices = web_sys::window().ok_or("no window")?.navigator().media_devices().map_err(|_| "this browser gives no camera access")?;
        let constraints = web_sys::MediaStreamConstraints::new();
        constraints.set_video(&JsValue::TRUE);
        let promise = devices.get_user_media_with_constraints(&constraints).map_err(js_err("camera"))?;
        let stream: MediaStream = JsFuture::from(promise)
            .await
            .map_err(|e| {
                format!(
                    "the camera could not start ({})",
                    js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| "permission denied or no camera".into())
                )
            })?
            .dyn_into()
            .map_err(|_| "no media stream")?;
        let video: HtmlVideoElement = document()?.create_element("video").map_err(js_err("no video element"))?.dyn_into().map_err(|_| "no video")?;
        video.set_muted(true);
        video.set_src_object(Some(&stream));
        let _ = JsFuture::from(video.play().map_err(js_err("cannot play the camera"))?).await;
        Ok(Self { video, stream, ctx: None })
    }

    /// The current camera image.
    pub fn grab(&mut self) -> Result<RgbFrame, String> {
        let (vw, vh) = (self.video.video_width(), self.video.video_height());
        if vw == 0 || vh == 0 {
            return Err("the camera gives no picture yet".into());
        }
        if self.ctx.as_ref().is_none_or(|(_, w, h)| (*w, *h) != fitted(vw, vh)) {
            let (w, h) = fitted(vw, vh);
            self.ctx = Some((canvas(w, h)?.1, w, h));
        }
        let (ctx, w, h) = self.ctx.as_ref().expect("set above");
        ctx.draw_image_with_html_video_element_and_dw_and_dh(&self.video, 0.0, 0.0, *w as f64, *h as f64).map_err(js_err("cannot draw the camera image"))?;
        read_pixels(ctx, *w, *h)
    }

    pub fn stop(&self) {
        for track in self.stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                track.stop();
            }
        }
    }
}

/// Fetch one of the app's own static files as bytes.
pub async fn fetch_bytes(path: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(path)).await.map_err(js_err(path))?.dyn_into().map_err(|_| "not a response")?;
    if !response.ok() {
        return Err(format!("{path}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(js_err(path))?).await.map_err(js_err(path))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// An object URL holding `bytes` (for a download link); release it with [`revoke`].
pub fn download_link(bytes: &[u8]) -> Result<String, String> {
    let array = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&array, &options).map_err(js_err("cannot make the file"))?;
    Url::create_object_url_with_blob(&blob).map_err(js_err("cannot make the file"))
}

pub fn revoke(url: &str) {
    Url::revoke_object_url(url).ok();
}

/// Start the browser's download of `url` as `name`.
pub fn click_download(url: &str, name: &str) {
    let Ok(doc) = document() else { return };
    if let Ok(a) = doc.create_element("a").and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().map_err(JsValue::from)) {
        a.set_href(url);
        a.set_download(name);
        a.click();
    }
}

/// The files the user picked in an `<input type="file">` (its change event), the input then
/// emptied so that picking the same file again is heard again.
pub fn picked_files(ev: &web_sys::Event) -> Vec<File> {
    let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return Vec::new() };
    let files = input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default();
    input.set_value("");
    files
}

/// The bytes of a file the user picked.
pub async fn read_file(file: &File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(js_err("cannot read the file"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
