//! The browser front-end: FAb-Net and the MTCNN face detector on the user's WebGPU device.
//! Screens: clips (decode, find faces, follow them into tracks, crop as in training) and the
//! webcam (live detection and embedding), and the explorer (PCA of every embedded face,
//! nearest neighbours by cosine similarity).

mod clips;
mod explore;
mod faces;
mod gpu;
mod media;
mod page;
mod plots;
mod webcam;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(page::App);
}
