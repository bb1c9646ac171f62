//! Teaching an attribute from a few tagged faces, as Teachable Machine does it, on the user's
//! own faces: tag faces (one, or a whole clip) with a class or a value, fit the model crate's
//! ridge probe on their frozen embeddings in the worker, see its cross-validated score beside
//! the baseline, and use it as the weights' linear head (downloaded with them, shown live on
//! the webcam). Several attributes are kept; choosing one fits it again from its tags, so that
//! it always fits the embeddings of the weights now loaded.

use std::rc::Rc;

use fabnet::probe::{Attribute, answer};
use fabnet::project::{Tag, TaughtAttribute};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::Engine;
use crate::clips::ClipView;
use crate::explore::Point;
use crate::{faces, storage, weights};

/// Every attribute the user is teaching, and which one the weights' head now holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Teaching {
    pub attributes: Vec<TaughtAttribute>,
    /// The attribute shown (and, once fitted, in the head).
    pub active: Option<usize>,
}

/// The attribute the user typed, unless another has its name.
fn new_attribute(name: &str, classes: &str, taken: &[TaughtAttribute]) -> Result<Attribute, String> {
    let attribute = Attribute::parse(name, classes)?;
    if taken.iter().any(|t| t.attribute.name == attribute.name) {
        return Err(format!("there is already an attribute called '{}'", attribute.name));
    }
    Ok(attribute)
}

/// Tag `faces` with `target` for attribute `k`, replacing their earlier tags.
fn tag(teaching: RwSignal<Teaching>, k: usize, faces: &[(usize, usize, usize)], target: Vec<f32>) {
    teaching.update(|t| {
        let Some(a) = t.attributes.get_mut(k) else { return };
        a.tags.retain(|tag| !faces.contains(&(tag.clip, tag.track, tag.frame)));
        a.tags.extend(faces.iter().map(|&(clip, track, frame)| Tag { clip, track, frame, target: target.clone() }));
    });
}

/// The tagged faces that the weights now loaded have embedded: their embeddings and targets.
fn examples(attribute: &TaughtAttribute, points: &[Point]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    attribute
        .tags
        .iter()
        .filter_map(|tag| points.iter().find(|p| p.face() == (tag.clip, tag.track, tag.frame)).map(|p| (p.embedding.clone(), tag.target.clone())))
        .unzip()
}

/// Fit attribute `k` from its tags and make it the weights' head; stored with the weights.
async fn fit(
    engine: Rc<Engine>,
    teaching: RwSignal<Teaching>,
    k: usize,
    points: Vec<Point>,
    about: RwSignal<String>,
    clips: RwSignal<Vec<ClipView>>,
) -> Result<(), String> {
    let Some(attribute) = teaching.with_untracked(|t| t.attributes.get(k).cloned()) else { return Err("no such attribute".into()) };
    let (embeddings, targets) = examples(&attribute, &points);
    if embeddings.is_empty() {
        return Err("tag some faces first".into());
    }
    let before = engine.weights_id();
    let (report, info) = engine.teach(attribute.attribute.clone(), embeddings, targets).await?;
    // The attributes may have changed meanwhile (removed, or a project opened): the report is
    // only this attribute's.
    teaching.update(|t| {
        if let Some(a) = t.attributes.get_mut(k).filter(|a| a.attribute == attribute.attribute) {
            a.report = Some(report);
            t.active = Some(k);
        }
    });
    weights::head_changed(&engine, before, info, about, clips).await
}

#[component]
pub fn TeachPanel(
    all: Memo<Vec<Point>>,
    selected: RwSignal<Option<usize>>,
    engine: Signal<Option<Rc<Engine>>, LocalStorage>,
    teaching: RwSignal<Teaching>,
    about: RwSignal<String>,
    clips: RwSignal<Vec<ClipView>>,
) -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let classes = RwSignal::new(String::new());
    let value = RwSignal::new(0.5f32);
    // The tags are stored as they change, once the stored ones have been read.
    let loaded = RwSignal::new(false);
    Effect::new(move |_| {
        let t = teaching.get();
        if loaded.get_untracked() {
            spawn_local(async move {
                if let Err(e) = storage::save_teaching(&t).await {
                    problem.set(Some(format!("the tags are on this page but not stored ({e})")));
                }
            });
        }
    });
    spawn_local(async move {
        match storage::load_teaching().await {
            Ok(Some(t)) => teaching.set(t),
            Ok(None) => {}
            Err(e) => problem.set(Some(format!("{e}; what you teach now replaces them"))),
        }
        loaded.set(true);
    });

    let run_fit = move |k: usize| {
        let Some(engine) = engine.get_untracked() else { return };
        busy.set(true);
        problem.set(None);
        let points = all.get_untracked();
        spawn_local(async move {
            if let Err(e) = fit(engine, teaching, k, points, about, clips).await {
                problem.set(Some(e));
            }
            busy.set(false);
        });
    };
    let add = move |_| match teaching.with_untracked(|t| new_attribute(&name.get_untracked(), &classes.get_untracked(), &t.attributes)) {
        Ok(attribute) => {
            teaching.update(|t| {
                t.attributes.push(TaughtAttribute { attribute, tags: Vec::new(), report: None });
                t.active = Some(t.attributes.len() - 1);
            });
            name.set(String::new());
            classes.set(String::new());
            problem.set(None);
        }
        Err(e) => problem.set(Some(e)),
    };
    // Choosing a fitted attribute fits it again, so that the head is its own.
    let choose = move |ev: leptos::ev::Event| {
        let Ok(k) = event_target_value(&ev).parse::<usize>() else { return };
        teaching.update(|t| t.active = Some(k));
        if teaching.with_untracked(|t| t.attributes.get(k).is_some_and(|a| a.report.is_some())) {
            run_fit(k);
        }
    };
    let fit_active = move |_| {
        if let Some(k) = teaching.with_untracked(|t| t.active) {
            run_fit(k);
        }
    };
    let active = move || teaching.with(|t| t.active.and_then(|k| t.attributes.get(k).cloned().map(|a| (k, a))));
    // The engine's description is no signal: the weights' id, set with it, says when it changed.
    let head_task = move || {
        about.track();
        engine.get().and_then(|e| {
            e.current_weights();
            e.info().head_task
        })
    };
    // The active attribute is the head's when the head describes it.
    let in_head = move || active().is_some_and(|(_, a)| head_task() == Some(a.attribute.task().describe_outputs()));

    // The head's answer for the selected face, asked of the engine when the face or the weights change.
    let prediction = RwSignal::new(None::<(usize, Vec<f32>)>);
    Effect::new(move |_| {
        prediction.set(None);
        let (Some(i), Some(engine)) = (selected.get(), engine.get()) else { return };
        engine.current_weights();
        let Some(p) = all.with(|pts| pts.get(i).cloned()) else { return };
        spawn_local(async move {
            let input = faces::network_input(&p.crops[p.index], engine.input_size());
            if let Ok((_, Some(head))) = engine.embed_with_head(&[input]).await
                && let Some(values) = head.into_iter().next()
            {
                prediction.set(Some((i, values)));
            }
        });
    });

    let tagging = move || {
        let (k, a) = active()?;
        let i = selected.get()?;
        let p = all.with(|pts| pts.get(i).cloned())?;
        let whole_clip = move |pts: &[Point], clip: usize| pts.iter().filter(|q| q.clip_id == clip).map(Point::face).collect::<Vec<_>>();
        let face = p.face();
        let clip = p.clip_id;
        let set_value = move |ev: leptos::ev::Event| {
            if let Ok(v) = event_target_value(&ev).parse::<f32>()
                && v.is_finite()
            {
                value.set(v);
            }
        };
        let buttons = if a.attribute.classes.is_empty() {
            view! {
                <label>{format!("{} ", a.attribute.name)}
                    <input type="number" step="any" data-testid="teach-value" prop:value=move || value.get()
                        on:change=set_value /></label>
                " " <button data-testid="teach-tag-face" on:click=move |_| tag(teaching, k, &[face], vec![value.get_untracked()])>"Tag this face"</button>
                " " <button data-testid="teach-tag-clip" on:click=move |_| tag(teaching, k, &all.with_untracked(|pts| whole_clip(pts, clip)), vec![value.get_untracked()])>"Tag its whole clip"</button>
            }
            .into_any()
        } else {
            a.attribute
                .classes
                .iter()
                .enumerate()
                .map(|(c, class)| {
                    view! {
                        <span class="teach-class">
                            <button data-testid="teach-tag-face" data-class=c on:click=move |_| tag(teaching, k, &[face], vec![c as f32])>{format!("This face: {class}")}</button>
                            <button class="quiet" data-testid="teach-tag-clip" data-class=c
                                on:click=move |_| tag(teaching, k, &all.with_untracked(|pts| whole_clip(pts, clip)), vec![c as f32])>{format!("Its whole clip: {class}")}</button>
                        </span>
                    }
                })
                .collect_view()
                .into_any()
        };
        let untag = move |_| {
            teaching.update(|t| {
                if let Some(a) = t.attributes.get_mut(k) {
                    a.tags.retain(|tag| (tag.clip, tag.track, tag.frame) != face);
                }
            })
        };
        Some(view! {
            <div class="teach-tagging">
                <p><img data-testid="teach-face" src=p.thumb.to_string() width="48" height="48" alt="" />" " {p.label.clone()}</p>
                <p>{buttons} " " <button class="quiet" data-testid="teach-untag" on:click=untag>"Untag"</button></p>
            </div>
        })
    };
    let counts = move || {
        let (_, a) = active()?;
        let shown = all.with(|pts| examples(&a, pts).0.len());
        let text = if a.attribute.classes.is_empty() {
            format!("{} face(s) tagged with a value", a.tags.len())
        } else {
            a.attribute
                .classes
                .iter()
                .enumerate()
                .map(|(c, class)| format!("{class}: {}", a.tags.iter().filter(|t| t.target.first() == Some(&(c as f32))).count()))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let waiting = a.tags.len() - shown;
        let waiting = (waiting > 0).then(|| format!(" ({waiting} of them not embedded with these weights now, or their clip is gone: left out)"));
        Some(view! { <p data-testid="teach-counts" data-tags=a.tags.len()>"Tagged: " {text} {waiting}</p> })
    };
    let report = move || {
        let (_, a) = active()?;
        let r = a.report.clone()?;
        Some(view! { <p data-testid="teach-score" data-metric=r.metric.clone() data-score=r.score data-baseline=r.baseline>{r.to_string()}</p> })
    };
    let answer_view = move || {
        let (i, values) = prediction.get()?;
        (selected.get() == Some(i) && in_head()).then_some(())?;
        let task = head_task()?;
        let json = serde_json::to_string(&values).unwrap_or_default();
        Some(view! { <p data-testid="teach-prediction" data-values=json>"The head's answer for this face: " <strong>{answer(&task, &values)}</strong></p> })
    };

    view! {
        <div class="teach" data-testid="teach">
            <h3>"Teach an attribute"</h3>
            <p class="hint">"Tag faces (click one in the plot) with a class or a number, then fit: a linear probe on the embeddings, scored by cross-validation, becomes the weights' head. It answers live for the webcam, and the downloaded weights carry it (fabnet embed prints it)."</p>
            <div class="teach-new">
                <input type="text" size="12" placeholder="attribute" data-testid="teach-new-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                " " <input type="text" size="24" placeholder="classes: smiling, neutral (none: a number)" data-testid="teach-new-classes"
                    prop:value=move || classes.get() on:input=move |ev| classes.set(event_target_value(&ev)) />
                " " <button data-testid="teach-add" on:click=add>"Add attribute"</button>
            </div>
            {move || {
                let names: Vec<String> = teaching.with(|t| t.attributes.iter().map(|a| a.attribute.name.clone()).collect());
                (!names.is_empty()).then(|| {
                    let current = teaching.with_untracked(|t| t.active);
                    view! {
                        <p><label>"Attribute "
                            <select data-testid="teach-attribute" on:change=choose prop:disabled=move || busy.get()>
                                {names.into_iter().enumerate().map(|(k, n)| view! { <option value=k selected=current == Some(k)>{n}</option> }).collect_view()}
                            </select></label>
                            " " <button data-testid="teach-fit" prop:disabled=move || busy.get() || active().is_none()
                                on:click=fit_active>{move || if busy.get() { "Fitting…" } else { "Fit and use as the head" }}</button>
                            " " <button class="quiet" data-testid="teach-remove" prop:disabled=move || busy.get() on:click=move |_| teaching.update(|t| {
                                if let Some(k) = t.active.take().filter(|&k| k < t.attributes.len()) { t.attributes.remove(k); }
                            })>"Remove attribute"</button>
                            " " <span class="muted" data-testid="teach-head">{move || if in_head() { "in the weights' head now".to_string() } else { "not in the head (fit to use it)".to_string() }}</span>
                        </p>
                    }
                })
            }}
            {counts}
            {move || if selected.get().is_none() && active().is_some() { Some(view! { <p class="muted">"Click a face in the plot to tag it."</p> }) } else { None }}
            {tagging}
            {report}
            {answer_view}
            {move || problem.get().map(|p| view! { <p class="problem" data-testid="teach-problem">{p}</p> })}
        </div>
    }
}
