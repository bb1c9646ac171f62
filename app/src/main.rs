//! The browser front-end: FAb-Net and the MTCNN face detector on the user's WebGPU device,
//! run by the engine worker (`fabnet_app::engine`); this thread decodes media and draws.
//! Screens: clips (decode, find faces, follow them into tracks, crop as in training), training
//! (fine-tune with a live loss curve; weights in and out), the webcam (live detection and
//! embedding) and the explorer (PCA of every embedded face, nearest neighbours by cosine
//! similarity, re-synthesis through the decoder). Crops, embeddings and weights persist in
//! IndexedDB.

mod chart;
mod client;
mod clips;
mod explore;
mod faces;
mod layouts;
mod media;
mod page;
mod plots;
mod privacy;
mod project;
mod projector;
mod puppet;
mod speed;
mod storage;
mod teach;
mod training;
mod warm;
mod webcam;
mod webcodecs;
mod weights;

fn main() {
    fabnet_app::startup::run_constructors();
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(page::App);
}
