//! The layout worker's entry point (built by Trunk as `layout.js` + `layout_bg.wasm`): t-SNE and
//! UMAP for the explorer, away from the page and the engine.

fn main() {
    fabnet_app::startup::run_constructors();
    console_error_panic_hook::set_once();
    fabnet_app::layout_worker::serve();
}
