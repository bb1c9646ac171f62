//! The browser front-end. For now one screen: it loads the default weights onto the user's
//! WebGPU device and embeds a face image they choose.

mod gpu;
mod media;
mod page;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(page::App);
}
