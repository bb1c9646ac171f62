//! Turning files the user picks into model input, with the browser's own decoders.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, File, HtmlCanvasElement, HtmlImageElement, Url};

fn js_err(what: &str) -> impl Fn(wasm_bindgen::JsValue) -> String + '_ {
    move |e| format!("{what}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// Decode an image file and draw it at `size` x `size`. Returns RGB as CHW floats in [0, 1]
/// (as the reference's `ToTensor`) and a data URL of the drawn square for display.
pub async fn image_file_to_chw(file: &File, size: usize) -> Result<(Vec<f32>, String), String> {
    let url = Url::create_object_url_with_blob(file).map_err(js_err("cannot read the file"))?;
    let img = HtmlImageElement::new().map_err(js_err("no image element"))?;
    img.set_src(&url);
    let decoded = JsFuture::from(img.decode()).await;
    Url::revoke_object_url(&url).ok();
    decoded.map_err(|_| format!("{} is not an image this browser can decode", file.name()))?;

    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(js_err("no canvas"))?
        .dyn_into()
        .map_err(|_| "no canvas")?;
    canvas.set_width(size as u32);
    canvas.set_height(size as u32);
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(js_err("no 2d context"))?
        .ok_or("no 2d context")?
        .dyn_into()
        .map_err(|_| "no 2d context")?;
    ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, 0.0, 0.0, size as f64, size as f64)
        .map_err(js_err("cannot draw the image"))?;
    let rgba = ctx
        .get_image_data(0.0, 0.0, size as f64, size as f64)
        .map_err(js_err("cannot read pixels"))?
        .data();
    let plane = size * size;
    let mut chw = vec![0.0f32; 3 * plane];
    for (i, px) in rgba.chunks_exact(4).enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px[c] as f32 / 255.0;
        }
    }
    let preview = canvas.to_data_url().map_err(js_err("cannot preview"))?;
    Ok((chw, preview))
}

/// Fetch one of the app's own static files as bytes.
pub async fn fetch_bytes(path: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(path))
        .await
        .map_err(js_err(path))?
        .dyn_into()
        .map_err(|_| "not a response")?;
    if !response.ok() {
        return Err(format!("{path}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(js_err(path))?).await.map_err(js_err(path))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
