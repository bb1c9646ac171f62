//! The engine worker's entry point (built by Trunk as `worker.js` + `worker_bg.wasm`).

use gloo_worker::Registrable;

fn main() {
    fabnet_app::startup::run_constructors();
    // The console gets the panic as before; the page hears of it too (`crash`).
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        fabnet_app::crash::report(&info.to_string());
    }));
    fabnet_app::EngineWorker::registrar().register();
}
