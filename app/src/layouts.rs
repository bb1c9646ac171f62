//! The page's side of the layout worker (`fabnet_app::layout_worker`): one layout at a time; a
//! new one ends the worker computing the old (a fit cannot be interrupted) and starts another.

use std::cell::RefCell;
use std::rc::Rc;

use fabnet::layout::Method;
use fabnet_app::layout_worker::{Job, Update};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Trunk's loader of the layout worker's wasm (`data-loader-shim` in index.html).
const LAYOUT_LOADER: &str = "./layout_loader.js";

struct Running {
    worker: web_sys::Worker,
    ready: bool,
    /// A job waiting for the worker to load.
    waiting: Option<Job>,
    // Kept alive while the worker may call them.
    _on_message: Closure<dyn Fn(web_sys::MessageEvent)>,
    _on_error: Closure<dyn Fn(web_sys::Event)>,
}

struct State {
    running: Option<Running>,
    /// The job the worker is on, until it finishes or fails.
    busy: Option<u32>,
    next_id: u32,
}

#[derive(Clone)]
pub struct Layouts {
    state: Rc<RefCell<State>>,
    on_update: Rc<dyn Fn(Update)>,
}

impl Layouts {
    /// `on_update` hears every job's progress, its layout and its failure.
    pub fn new(on_update: impl Fn(Update) + 'static) -> Self {
        Self { state: Rc::new(RefCell::new(State { running: None, busy: None, next_id: 1 })), on_update: Rc::new(on_update) }
    }

    /// The id the next job's updates will carry (so a caller can expect them before asking).
    pub fn next_id(&self) -> u32 {
        self.state.borrow().next_id + 1
    }

    /// Lay out `embeddings` by `method`; the id its updates carry ([`Layouts::next_id`]). A
    /// layout still computing is abandoned.
    pub fn run(&self, method: Method, embeddings: &[Vec<f32>]) -> u32 {
        self.cancel();
        let id = {
            let mut state = self.state.borrow_mut();
            state.next_id += 1;
            state.busy = Some(state.next_id);
            state.next_id
        };
        let dim = embeddings.first().map_or(1, Vec::len).max(1);
        let job = Job { id, method, dim, points: embeddings.iter().flatten().copied().collect() };
        if self.state.borrow().running.is_none() {
            match self.spawn() {
                Ok(running) => self.state.borrow_mut().running = Some(running),
                Err(message) => {
                    self.state.borrow_mut().busy = None;
                    (self.on_update)(Update::Failed { id, message });
                    return id;
                }
            }
        }
        let mut state = self.state.borrow_mut();
        let running = state.running.as_mut().expect("spawned above");
        if running.ready {
            let _ = running.worker.post_message(&job.to_js());
        } else {
            running.waiting = Some(job);
        }
        id
    }

    /// Abandon the layout being computed, if any (its worker ends; the next job starts another).
    pub fn cancel(&self) {
        let mut state = self.state.borrow_mut();
        if state.busy.take().is_some()
            && let Some(running) = state.running.take()
        {
            retire(running);
        }
    }

    fn spawn(&self) -> Result<Running, String> {
        let url = crate::client::worker_url(LAYOUT_LOADER)?;
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(&url, &options).map_err(|_| "cannot start the layout worker".to_string())?;
        let (state, on_update) = (Rc::downgrade(&self.state), self.on_update.clone());
        let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(update) = Update::from_js(&event.data()) else { return };
            let Some(state) = state.upgrade() else { return };
            match &update {
                Update::Ready => {
                    let mut state = state.borrow_mut();
                    if let Some(running) = state.running.as_mut() {
                        running.ready = true;
                        if let Some(job) = running.waiting.take() {
                            let _ = running.worker.post_message(&job.to_js());
                        }
                    }
                    return;
                }
                Update::Progress { id, epoch, epochs, .. } if epoch >= epochs => finished(&state, *id),
                Update::Failed { id, .. } => finished(&state, *id),
                Update::Progress { .. } => {}
            }
            on_update(update);
        });
        let (state, on_update) = (Rc::downgrade(&self.state), self.on_update.clone());
        // A script that fails to load fires a plain `Event`; an error inside the worker an `ErrorEvent`.
        let on_error = Closure::<dyn Fn(web_sys::Event)>::new(move |event: web_sys::Event| {
            let Some(state) = state.upgrade() else { return };
            let busy = state.borrow_mut().busy.take();
            // The worker is gone: the next job starts a new one.
            if let Some(running) = state.borrow_mut().running.take() {
                retire(running);
            }
            if let Some(id) = busy {
                let why = event.dyn_ref::<web_sys::ErrorEvent>().map(|e| e.message()).unwrap_or_else(|| "it could not be loaded".into());
                on_update(Update::Failed { id, message: format!("the layout worker stopped: {why}") });
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Running { worker, ready: false, waiting: None, _on_message: on_message, _on_error: on_error })
    }
}

/// End a worker: nothing it still sends is heard, and its handlers are dropped later, never from
/// inside one of them (which may be running now).
fn retire(running: Running) {
    running.worker.set_onmessage(None);
    running.worker.set_onerror(None);
    running.worker.terminate();
    wasm_bindgen_futures::spawn_local(async move { drop(running) });
}

fn finished(state: &RefCell<State>, id: u32) {
    let mut state = state.borrow_mut();
    if state.busy == Some(id) {
        state.busy = None;
    }
}
