//! A worker that panics dies without a word to the page: gloo-worker's bridge sees no error
//! event, so every pending call would wait forever. The worker's panic hook says why on a
//! BroadcastChannel named after the worker's own URL (a blob URL, unique to this page's
//! worker, so another tab never hears it); the page listens on the same name.

use wasm_bindgen::JsCast;

/// Called from the worker's panic hook.
pub fn report(message: &str) {
    let Ok(scope) = js_sys::global().dyn_into::<web_sys::WorkerGlobalScope>() else { return };
    if let Ok(channel) = web_sys::BroadcastChannel::new(&scope.location().href()) {
        let _ = channel.post_message(&message.into());
    }
}

/// What the page shows for a panic message (its first lines, without the stack).
pub fn explain(message: &str) -> String {
    let what: String = message.lines().take(3).collect::<Vec<_>>().join(" ").chars().take(300).collect();
    format!("the engine worker stopped ({what}); reload the page")
}
