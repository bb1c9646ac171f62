//! Live puppeteering: a face picked in the explorer is re-synthesised from each webcam frame's
//! embedding (the decoders warp it to the webcam face's pose and expression), shown beside the
//! camera. The explorer picks the source; the webcam loop drives it.

use std::sync::Arc;

use fabnet::face::RgbFrame;
use leptos::prelude::*;

use crate::client::Engine;
use crate::faces;
use crate::media;

/// The face the webcam drives, as the explorer showed it.
#[derive(Clone)]
pub struct PuppetSource {
    pub crops: Arc<Vec<RgbFrame>>,
    pub index: usize,
    pub thumb: String,
    pub label: String,
}

/// The latest driven picture and the webcam frame that drove it.
#[derive(Clone, PartialEq)]
pub struct Driven {
    pub url: String,
    pub frame: u64,
}

/// The source, as the network sees it now (the weights decide the size), driven by `embedding`.
pub async fn drive(engine: &Engine, source: &PuppetSource, embedding: Vec<f32>) -> Result<String, String> {
    resynthesize_crop(engine, &source.crops[source.index], embedding).await
}

/// A face crop re-synthesised with the pose and expression of `embedding`, as a picture: the
/// explorer's re-synthesis and the puppet's.
pub async fn resynthesize_crop(engine: &Engine, crop: &RgbFrame, embedding: Vec<f32>) -> Result<String, String> {
    let size = engine.input_size();
    let image = engine.resynthesize(faces::network_input(crop, size), embedding).await?;
    media::planar_to_data_url(&image, size)
}

/// The source and the face it becomes, beside the camera; a button lets it go.
#[component]
pub fn PuppetView(source: RwSignal<Option<PuppetSource>>, driven: RwSignal<Option<Driven>>) -> impl IntoView {
    move || {
        let s = source.get()?;
        Some(view! {
            <div class="puppet" data-testid="puppet">
                <figure><img src=s.thumb.clone() width="64" height="64" alt="puppet source" /><figcaption>{s.label.clone()}</figcaption></figure>
                {move || match driven.get() {
                    Some(d) => view! {
                        <figure><img data-testid="puppet-image" data-frame=d.frame.to_string() src=d.url width="160" height="160" alt="driven by the webcam" />
                            <figcaption>"driven by your face"</figcaption></figure>
                    }.into_any(),
                    None => view! { <p class="muted">"Start the camera: your face will drive this one."</p> }.into_any(),
                }}
                <button class="quiet" data-testid="puppet-stop" on:click=move |_| { source.set(None); driven.set(None); }>"Stop driving"</button>
            </div>
        })
    }
}
