//! The engine worker's entry point (built by Trunk as `worker.js` + `worker_bg.wasm`).

use gloo_worker::Registrable;

fn main() {
    fabnet_app::startup::run_constructors();
    console_error_panic_hook::set_once();
    fabnet_app::EngineWorker::registrar().register();
}
