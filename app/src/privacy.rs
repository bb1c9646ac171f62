//! "Nothing leaves this device", checked rather than promised: the user names an address and
//! the page and the engine worker each try to reach it; the page's Content-Security-Policy
//! (which the worker inherits) should stop both before anything is sent.

use std::rc::Rc;

use fabnet_app::reach::{self, Reach};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::Engine;

const DEFAULT_ADDRESS: &str = "https://example.com/";

fn kind(r: &Reach) -> &'static str {
    match r {
        Reach::Blocked => "blocked",
        Reach::Reached => "reached",
        Reach::Failed(_) => "failed",
    }
}

#[component]
pub fn PrivacyCheck(engine: Signal<Option<Rc<Engine>>, LocalStorage>) -> impl IntoView {
    let address = RwSignal::new(DEFAULT_ADDRESS.to_string());
    // Each result with the address it is for.
    let page = RwSignal::new(None::<(String, Reach)>);
    let worker = RwSignal::new(None::<(String, Result<Reach, String>)>);
    let busy = RwSignal::new(false);
    let run = move |_| {
        let url = address.get_untracked();
        let Some(engine) = engine.get_untracked() else { return };
        busy.set(true);
        page.set(None);
        worker.set(None);
        spawn_local(async move {
            page.set(Some((url.clone(), reach::try_reach(&url).await)));
            worker.set(Some((url.clone(), engine.try_reach(&url).await)));
            busy.set(false);
        });
    };
    let line = |who: &'static str, testid: &'static str, r: Option<(String, Result<Reach, String>)>| {
        r.map(|(url, r)| {
            let (k, text) = match &r {
                Ok(r) => (kind(r), r.describe()),
                Err(e) => ("failed", e.clone()),
            };
            view! { <li>{who} ": " <span data-testid=testid data-reach=k data-address=url>{text}</span></li> }
        })
    };
    view! {
        <div class="privacy-check">
            <p>"Check it: the page and the engine worker each try to reach an address of your choice."</p>
            <input type="url" data-testid="reach-address" prop:value=move || address.get() on:change=move |ev| address.set(event_target_value(&ev)) />
            " "
            <button data-testid="reach-try" on:click=run prop:disabled=move || busy.get() || engine.get().is_none()>"Try to reach it"</button>
            <ul>
                {move || line("the page", "reach-page", page.get().map(|(url, r)| (url, Ok(r))))}
                {move || line("the engine worker", "reach-worker", worker.get())}
            </ul>
        </div>
    }
}
