//! "Does anything leave this device?", answered by trying: a request to an address the user
//! picks, made from whichever side runs this (the page or the engine worker), and whether the
//! page's Content-Security-Policy stopped it before it left.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reach {
    /// The policy refused it: nothing was sent.
    Blocked,
    /// It was sent and answered: the address is reachable from here.
    Reached,
    /// It failed for another reason (no network, no server there), so it may have left.
    Failed(String),
}

impl Reach {
    /// In words, for the page.
    pub fn describe(&self) -> String {
        match self {
            Reach::Blocked => "blocked by this page's security policy: nothing was sent".into(),
            Reach::Reached => "reached: the request left and was answered".into(),
            Reach::Failed(e) => format!("failed, but not by the policy ({e}): it may have left"),
        }
    }
}

/// Try to fetch `url` from this global scope (a window or a worker). Opaque (`no-cors`) so
/// that a server that answers counts as reached, whatever its CORS headers.
pub async fn try_reach(url: &str) -> Reach {
    let global: web_sys::EventTarget = js_sys::global().unchecked_into();
    // The policy tells of what it refused by an event on the global scope.
    let blocked = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = blocked.clone();
    let listener = Closure::<dyn Fn(web_sys::SecurityPolicyViolationEvent)>::new(move |e: web_sys::SecurityPolicyViolationEvent| {
        if e.effective_directive() == "connect-src" {
            seen.set(true);
        }
    });
    let _ = global.add_event_listener_with_callback("securitypolicyviolation", listener.as_ref().unchecked_ref());
    let init = web_sys::RequestInit::new();
    init.set_mode(web_sys::RequestMode::NoCors);
    init.set_cache(web_sys::RequestCache::NoStore);
    let fetch = js_sys::Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call2(&global, &url.into(), &init).ok());
    let outcome = match fetch {
        Some(promise) => JsFuture::from(js_sys::Promise::from(promise)).await,
        None => Err(JsValue::from_str("this scope cannot fetch")),
    };
    // The violation event is queued as a task of its own: let it arrive.
    gloo_timers::future::TimeoutFuture::new(100).await;
    let _ = global.remove_event_listener_with_callback("securitypolicyviolation", listener.as_ref().unchecked_ref());
    match outcome {
        Ok(_) => Reach::Reached,
        Err(_) if blocked.get() => Reach::Blocked,
        Err(e) => {
            Reach::Failed(e.as_string().or_else(|| js_sys::Reflect::get(&e, &"message".into()).ok()?.as_string()).unwrap_or_else(|| "unknown error".into()))
        }
    }
}
