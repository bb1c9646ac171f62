//! A video file decoded as a stream by WebCodecs' `VideoDecoder`: the file demuxed in Rust
//! (`fabnet-demux`), every encoded frame decoded once and in order, and only the frames the
//! sampling keeps drawn and read; the rest are closed as they come out. The decoder is fed a
//! few chunks ahead, so only a handful of frames exist at a time, whatever the clip's length.

use fabnet::face::RgbFrame;
use fabnet_demux::{Sampling, Unreadable, Video};
use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use std::collections::VecDeque;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, File};

// The few WebCodecs items used here (web-sys has them only behind `web_sys_unstable_apis`).
#[wasm_bindgen]
extern "C" {
    type VideoDecoder;
    #[wasm_bindgen(constructor, catch)]
    fn new(init: &js_sys::Object) -> Result<VideoDecoder, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn configure(this: &VideoDecoder, config: &js_sys::Object) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn decode(this: &VideoDecoder, chunk: &EncodedVideoChunk) -> Result<(), JsValue>;
    #[wasm_bindgen(method)]
    fn flush(this: &VideoDecoder) -> js_sys::Promise;
    #[wasm_bindgen(method, catch)]
    fn close(this: &VideoDecoder) -> Result<(), JsValue>;
    #[wasm_bindgen(method, getter, js_name = decodeQueueSize)]
    fn decode_queue_size(this: &VideoDecoder) -> u32;
    #[wasm_bindgen(method, setter)]
    fn set_ondequeue(this: &VideoDecoder, handler: &JsValue);
    #[wasm_bindgen(static_method_of = VideoDecoder, js_name = isConfigSupported)]
    fn is_config_supported(config: &js_sys::Object) -> js_sys::Promise;

    type EncodedVideoChunk;
    #[wasm_bindgen(constructor, catch)]
    fn new(init: &js_sys::Object) -> Result<EncodedVideoChunk, JsValue>;

    type VideoFrame;
    #[wasm_bindgen(method, getter)]
    fn timestamp(this: &VideoFrame) -> f64;
    #[wasm_bindgen(method, getter, js_name = displayWidth)]
    fn display_width(this: &VideoFrame) -> u32;
    #[wasm_bindgen(method, getter, js_name = displayHeight)]
    fn display_height(this: &VideoFrame) -> u32;
    #[wasm_bindgen(method)]
    fn close(this: &VideoFrame);
    #[wasm_bindgen(method, getter, js_name = visibleRect)]
    fn visible_rect(this: &VideoFrame) -> JsValue;
    #[wasm_bindgen(method, catch, js_name = copyTo)]
    fn copy_to(this: &VideoFrame, destination: &js_sys::Uint8ClampedArray, options: &js_sys::Object) -> Result<js_sys::Promise, JsValue>;

    /// web-sys's 2D context, seen with a `drawImage` that takes a `VideoFrame`.
    #[wasm_bindgen(js_name = CanvasRenderingContext2D)]
    type Context2d;
    #[wasm_bindgen(method, catch, js_name = drawImage)]
    fn draw_video_frame(this: &Context2d, frame: &VideoFrame, dx: f64, dy: f64, dw: f64, dh: f64) -> Result<(), JsValue>;
}

/// Files above this are left to the `<video>` element, which reads them from disk as it goes
/// (the demuxer here holds the encoded file in memory).
const MAX_FILE_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

/// Chunks handed to the decoder ahead of its output.
const QUEUE: u32 = 4;

/// How long the decoder may go without giving a frame or taking a chunk before the file counts
/// as stalled.
const STALL_MS: u32 = 15_000;

enum Event {
    Frame(VideoFrame),
    /// The decoder took a chunk off its queue: it may take another.
    Dequeued,
    Failed(String),
    Flushed,
}

fn set(object: &js_sys::Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(object, &key.into(), value);
}

fn message(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

/// Whether this browser has WebCodecs' video decoder.
pub fn available() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &"VideoDecoder".into()).unwrap_or(false)
}

fn decoder_config(video: &Video) -> js_sys::Object {
    let config = js_sys::Object::new();
    set(&config, "codec", &video.codec.as_str().into());
    if video.width > 0 && video.height > 0 {
        set(&config, "codedWidth", &video.width.into());
        set(&config, "codedHeight", &video.height.into());
    }
    if let Some(description) = &video.description {
        set(&config, "description", &js_sys::Uint8Array::from(description.as_slice()).into());
    }
    // Frames are read back on the CPU: a software decoder spares a GPU round trip per frame.
    set(&config, "optimizeForLatency", &JsValue::TRUE);
    config
}

/// The canvas sampled frames are drawn into, turned as the file says; sized from the first
/// decoded frame (its display size, which carries the pixel aspect ratio).
struct Target {
    ctx: CanvasRenderingContext2d,
    size: (u32, u32),
    /// The frame's drawing box before turning.
    draw: (f64, f64),
    /// Where a frame's own pixels are put first (`copyTo`), when the browser converts them
    /// to RGBA: a canvas that is handed the `VideoFrame` itself keeps a decoded copy of every
    /// frame in its image cache (in Chromium, 0.9 MB a 640x360 frame, to 450 MB, freed only
    /// under memory pressure). `None`: this browser cannot, the frame is drawn directly.
    copied: Option<Copied>,
}

struct Copied {
    canvas: web_sys::HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    pixels: js_sys::Uint8ClampedArray,
    image: web_sys::ImageData,
    options: js_sys::Object,
}

impl Copied {
    /// For frames like `frame`, when the browser can copy them out as RGBA.
    fn new(frame: &VideoFrame) -> Option<Self> {
        let (w, h) = Self::visible_size(frame)?;
        let options = js_sys::Object::new();
        set(&options, "format", &"RGBA".into());
        let pixels = js_sys::Uint8ClampedArray::new_with_length(w.checked_mul(h)?.checked_mul(4)?);
        let image = web_sys::ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, w, h).ok()?;
        let (canvas, ctx) = crate::media::canvas(w, h).ok()?;
        Some(Self { canvas, ctx, pixels, image, options })
    }

    fn visible_size(frame: &VideoFrame) -> Option<(u32, u32)> {
        let rect = frame.visible_rect();
        let side = |key: &str| js_sys::Reflect::get(&rect, &key.into()).ok().and_then(|v| v.as_f64()).filter(|v| *v >= 1.0).map(|v| v as u32);
        Some((side("width")?, side("height")?))
    }

    /// The frame's pixels on this canvas; `Err` when the browser refuses the copy or the
    /// frame is not of this canvas's size (a stream that changes size part-way).
    async fn copy(&self, frame: &VideoFrame) -> Result<(), JsValue> {
        if Self::visible_size(frame) != Some((self.canvas.width(), self.canvas.height())) {
            return Err("a frame of another size".into());
        }
        JsFuture::from(frame.copy_to(&self.pixels, &self.options)?).await?;
        self.ctx.put_image_data(&self.image, 0.0, 0.0)
    }
}

impl Target {
    fn new(frame: &VideoFrame, rotation: u32) -> Result<Self, String> {
        let (w, h) = (frame.display_width(), frame.display_height());
        let turned = rotation == 90 || rotation == 270;
        let (fw, fh) = crate::media::fitted(if turned { h } else { w }, if turned { w } else { h });
        let (_, ctx) = crate::media::canvas(fw, fh)?;
        let (fw64, fh64) = (fw as f64, fh as f64);
        let (dx, dy, angle) = match rotation {
            90 => (fw64, 0.0, std::f64::consts::FRAC_PI_2),
            180 => (fw64, fh64, std::f64::consts::PI),
            270 => (0.0, fh64, -std::f64::consts::FRAC_PI_2),
            _ => (0.0, 0.0, 0.0),
        };
        ctx.translate(dx, dy).map_err(|e| message(&e))?;
        ctx.rotate(angle).map_err(|e| message(&e))?;
        Ok(Self { ctx, size: (fw, fh), draw: if turned { (fh64, fw64) } else { (fw64, fh64) }, copied: Copied::new(frame) })
    }

    async fn read(&mut self, frame: &VideoFrame) -> Result<RgbFrame, String> {
        let (dw, dh) = self.draw;
        let copied = match &self.copied {
            Some(c) => c.copy(frame).await.is_ok(),
            None => false,
        };
        let drawn = match (&self.copied, copied) {
            // Drawn from the copy, scaled as the frame itself would be: the same pixels.
            (Some(c), true) => self.ctx.draw_image_with_html_canvas_element_and_dw_and_dh(&c.canvas, 0.0, 0.0, dw, dh),
            _ => {
                self.copied = None;
                self.ctx.unchecked_ref::<Context2d>().draw_video_frame(frame, 0.0, 0.0, dw, dh)
            }
        };
        drawn.map_err(|e| format!("cannot draw the frame: {}", message(&e)))?;
        crate::media::read_pixels(&self.ctx, self.size.0, self.size.1)
    }
}

/// The sampled frames of one video file, decoded by WebCodecs.
pub struct StreamReader {
    name: String,
    video: Video,
    decoder: VideoDecoder,
    events: mpsc::UnboundedReceiver<Event>,
    sender: mpsc::UnboundedSender<Event>,
    // Kept alive while the decoder may call them.
    _on_output: Closure<dyn FnMut(VideoFrame)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
    _on_dequeue: Closure<dyn FnMut()>,
    plan: Sampling,
    total: usize,
    /// Chunks handed to the decoder.
    fed: usize,
    flushing: bool,
    finished: bool,
    failed: Option<String>,
    /// Sampled frames read but not yet given out, each with the number of sampling times it is
    /// on screen for.
    ready: VecDeque<(RgbFrame, usize)>,
    target: Option<Target>,
    /// Seconds into the video of the last frame decoded.
    reached: f64,
    delivered: usize,
}

impl StreamReader {
    /// The reader, or `None` when WebCodecs is not the way for this file (no `VideoDecoder`,
    /// a container or codec not handled here, a file too large to hold): the caller then seeks
    /// a `<video>`.
    pub async fn open(file: &File, fps: f64) -> Result<Option<Self>, String> {
        if !available() || file.size() > MAX_FILE_BYTES {
            return Ok(None);
        }
        let name = file.name();
        let video = match fabnet_demux::demux(crate::media::read_file(file).await?) {
            Ok(video) => video,
            Err(e @ (Unreadable::Unsupported(_) | Unreadable::Damaged(_))) => {
                web_sys::console::info_1(&format!("{name}: {e}; decoding with the <video> element").into());
                return Ok(None);
            }
        };
        let config = decoder_config(&video);
        let support = JsFuture::from(VideoDecoder::is_config_supported(&config)).await.ok();
        let supported = support.and_then(|s| js_sys::Reflect::get(&s, &"supported".into()).ok()).is_some_and(|s| s.is_truthy());
        if !supported {
            web_sys::console::info_1(&format!("{name}: WebCodecs cannot decode {}; decoding with the <video> element", video.codec).into());
            return Ok(None);
        }

        let (sender, events) = mpsc::unbounded();
        let on_output = {
            let sender = sender.clone();
            Closure::<dyn FnMut(VideoFrame)>::new(move |frame: VideoFrame| {
                if let Err(e) = sender.unbounded_send(Event::Frame(frame)) {
                    e.into_inner().close_frame();
                }
            })
        };
        let on_error = {
            let sender = sender.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                let _ = sender.unbounded_send(Event::Failed(message(&e)));
            })
        };
        let on_dequeue = {
            let sender = sender.clone();
            Closure::<dyn FnMut()>::new(move || {
                let _ = sender.unbounded_send(Event::Dequeued);
            })
        };
        let init = js_sys::Object::new();
        set(&init, "output", on_output.as_ref());
        set(&init, "error", on_error.as_ref());
        let decoder = VideoDecoder::new(&init).map_err(|e| format!("{name}: no video decoder ({})", message(&e)))?;
        decoder.set_ondequeue(on_dequeue.as_ref());
        decoder.configure(&config).map_err(|e| format!("{name}: the video decoder refused {} ({})", video.codec, message(&e)))?;
        let plan = Sampling::new(&video.presentation(), video.duration(), fps);
        let total = plan.total();
        Ok(Some(Self {
            name,
            video,
            decoder,
            events,
            sender,
            _on_output: on_output,
            _on_error: on_error,
            _on_dequeue: on_dequeue,
            plan,
            total,
            fed: 0,
            flushing: false,
            finished: false,
            failed: None,
            ready: VecDeque::new(),
            target: None,
            reached: 0.0,
            delivered: 0,
        }))
    }

    /// Seconds from the first frame to the end of the last the file holds.
    pub fn duration(&self) -> f64 {
        self.video.duration()
    }

    /// Sampled frames the reader will give (fewer if the decoder drops some).
    pub fn frames(&self) -> usize {
        self.total
    }

    /// Frames given out so far.
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// The file ends before its own index does (a cut-off download).
    pub fn truncated(&self) -> bool {
        self.video.truncated
    }

    pub fn codec(&self) -> &str {
        &self.video.codec
    }

    /// Hands the decoder chunks until it holds `QUEUE`, then asks it to flush after the last.
    async fn feed(&mut self) -> Result<(), String> {
        while self.fed < self.video.chunks.len() && self.decoder.decode_queue_size() < QUEUE {
            let chunk = &self.video.chunks[self.fed];
            let init = js_sys::Object::new();
            set(&init, "type", &(if chunk.key { "key" } else { "delta" }).into());
            set(&init, "timestamp", &(chunk.timestamp_us as f64).into());
            set(&init, "duration", &(chunk.duration_us as f64).into());
            set(&init, "data", &js_sys::Uint8Array::from(self.video.chunk_bytes(chunk)).into());
            let encoded = EncodedVideoChunk::new(&init).map_err(|e| message(&e))?;
            if let Err(e) = self.decoder.decode(&encoded) {
                self.refused(&message(&e)).await;
                return Ok(());
            }
            self.fed += 1;
        }
        if self.fed == self.video.chunks.len() && !self.flushing {
            self.flushing = true;
            let (flush, sender) = (JsFuture::from(self.decoder.flush()), self.sender.clone());
            wasm_bindgen_futures::spawn_local(async move {
                // A failed flush is reported by the error callback too.
                let _ = sender.unbounded_send(match flush.await {
                    Ok(_) => Event::Flushed,
                    Err(e) => Event::Failed(message(&e)),
                });
            });
        }
        Ok(())
    }

    /// The decoder threw on a chunk: it closed itself after an error, whose reason (and the
    /// frames before it) are already queued; the exception says only that it is closed.
    /// The frames read before it go out first; `next_frame` gives the error after them.
    async fn refused(&mut self, thrown: &str) {
        let mut why = thrown.to_string();
        while let Ok(event) = self.events.try_recv() {
            match event {
                Event::Frame(frame) => {
                    let kept = self.take(&frame).await;
                    frame.close();
                    if let Err(e) = kept {
                        why = e;
                    }
                }
                Event::Failed(reason) => why = reason,
                Event::Dequeued | Event::Flushed => {}
            }
        }
        self.finished = true;
        self.failed = Some(self.could_not_decode(&why));
    }

    fn could_not_decode(&self, why: &str) -> String {
        format!("{}: the browser could not decode the video at {:.1} s ({why}); the file may be damaged", self.name, self.reached)
    }

    /// The next sampled frame, or `None` past the end.
    pub async fn next_frame(&mut self) -> Result<Option<RgbFrame>, String> {
        loop {
            if let Some((frame, times)) = self.ready.pop_front() {
                if times > 1 {
                    self.ready.push_front((frame.clone(), times - 1));
                }
                self.delivered += 1;
                return Ok(Some(frame));
            }
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if self.finished {
                return Ok(None);
            }
            if !self.flushing {
                self.feed().await?;
                if self.finished {
                    continue;
                }
            }
            let timeout = gloo_timers::future::TimeoutFuture::new(STALL_MS).fuse();
            let mut next = self.events.next().fuse();
            futures::pin_mut!(timeout);
            let event = futures::select! {
                event = next => event,
                _ = timeout => None,
            };
            match event {
                Some(Event::Frame(frame)) => {
                    let result = self.take(&frame).await;
                    frame.close();
                    result?;
                }
                Some(Event::Dequeued) => {}
                Some(Event::Flushed) => self.finished = true,
                Some(Event::Failed(why)) => {
                    self.finished = true;
                    self.failed = Some(self.could_not_decode(&why));
                }
                None => {
                    return Err(format!(
                        "{}: the browser stopped decoding at {:.1} s (nothing for {} s); the file may be damaged",
                        self.name,
                        self.reached,
                        STALL_MS / 1000
                    ));
                }
            }
        }
    }

    /// Reads a decoded frame if the sampling keeps it (once per sampling time it is on screen).
    async fn take(&mut self, frame: &VideoFrame) -> Result<(), String> {
        let timestamp = frame.timestamp() as i64;
        self.reached = timestamp as f64 / 1e6;
        let samples = self.plan.take(timestamp);
        if samples == 0 {
            return Ok(());
        }
        if self.target.is_none() {
            self.target = Some(Target::new(frame, self.video.rotation)?);
        }
        let rgb = self.target.as_mut().expect("set above").read(frame).await?;
        self.ready.push_back((rgb, samples));
        Ok(())
    }
}

impl Event {
    fn close_frame(self) {
        if let Event::Frame(frame) = self {
            frame.close();
        }
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        // Closing fires no more outputs or errors, but may still fire `dequeue`.
        self.decoder.set_ondequeue(&JsValue::NULL);
        let _ = self.decoder.close();
        // Frames still queued hold decoder memory until closed.
        while let Ok(event) = self.events.try_recv() {
            event.close_frame();
        }
    }
}
