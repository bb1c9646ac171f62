//! Small drawings of model outputs.

use leptos::prelude::*;

/// An embedding as a bar per dimension (blue positive, orange negative), with its values.
#[component]
pub fn EmbeddingBars(values: Vec<f32>, testid: &'static str) -> impl IntoView {
    let peak = values.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    let bars = values
        .iter()
        .map(|v| {
            let height = 40.0 * v.abs() / peak;
            let style =
                if *v >= 0.0 { format!("height:{height:.1}px;margin-top:{:.1}px", 40.0 - height) } else { format!("height:{height:.1}px;margin-top:40px") };
            view! { <span class="bar" class:negative=*v < 0.0 style=style title=format!("{v:.4}")></span> }
        })
        .collect_view();
    let json = serde_json::to_string(&values).unwrap_or_default();
    view! {
        <div class="embedding">
            <p class="muted">{values.len()} " dimensions, norm " {format!("{norm:.3}")}</p>
            <div class="bars">{bars}</div>
            <details><summary>"Values"</summary><code data-testid=testid>{json}</code></details>
        </div>
    }
}
