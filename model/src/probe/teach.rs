//! Teaching an attribute from a few labelled faces (the browser's "Teach", as Teachable
//! Machine does it): the ridge probe on frozen embeddings, scored by cross-validation beside the
//! predict-the-mean (majority class) baseline, then refitted on every example. The folds cut
//! each label's examples into contiguous runs, so that neighbouring frames of a video (nearly
//! the same picture) mostly fall in the same fold instead of testing each other.

use super::fit::{Labelled, fit_and_score, mean_score};
use super::linear::{Lambda, Probe};
use super::metrics::Score;
use super::task::{Rect, Task, TaskKind};

/// What the user teaches: classes (two or more names), or one number called `name` when
/// `classes` is empty.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    pub name: String,
    pub classes: Vec<String>,
}

impl Attribute {
    pub fn task(&self) -> Task {
        let kind =
            if self.classes.is_empty() { TaskKind::Regression { names: vec![self.name.clone()] } } else { TaskKind::Classes { names: self.classes.clone() } };
        Task { name: self.name.clone(), kind }
    }
}

impl Attribute {
    /// The attribute a user typed: a name, and classes separated by commas (none: a number).
    pub fn parse(name: &str, classes: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("give the attribute a name".into());
        }
        let classes: Vec<String> = classes.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
        if classes.len() == 1 {
            return Err("a class attribute needs two classes or more (or none, for a number)".into());
        }
        if (1..classes.len()).any(|i| classes[..i].contains(&classes[i])) {
            return Err("each class needs its own name".into());
        }
        Ok(Self { name: name.to_string(), classes })
    }
}

/// The class names a class head's description (`Task::describe_outputs`) lists, in order.
pub fn class_names(head_task: &str) -> Option<Vec<String>> {
    let (_, names) = head_task.split_once(CLASS_SCORES)?;
    Some(names.split(", ").map(str::to_string).collect())
}

/// What `describe_outputs` writes before a class head's names.
pub(crate) const CLASS_SCORES: &str = "class scores (largest wins): ";

/// A head's answer in words: the class with the largest score (and the scores), or the values.
pub fn answer(head_task: &str, values: &[f32]) -> String {
    match class_names(head_task).filter(|n| n.len() == values.len()) {
        Some(names) => {
            let best = (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap_or(0);
            let scores: Vec<String> = names.iter().zip(values).map(|(n, v)| format!("{n} {v:.2}")).collect();
            format!("{} (scores: {})", names[best], scores.join(", "))
        }
        None => values.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", "),
    }
}

/// How a taught attribute scored, for the page: `metric` is "accuracy" or "mae".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TeachReport {
    pub metric: String,
    pub score: f64,
    pub baseline: f64,
    pub folds: usize,
    pub examples: usize,
}

impl std::fmt::Display for TeachReport {
    /// The score beside its baseline, in words (the app's panel, `fabnet project`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let of = format!("on {} tagged faces, {} folds", self.examples, self.folds);
        if self.metric == "accuracy" {
            write!(f, "Cross-validated accuracy {:.0}% ({of}); always answering the commonest class: {:.0}%.", self.score * 100.0, self.baseline * 100.0)
        } else {
            write!(f, "Cross-validated mean absolute error {:.3} ({of}); always answering the mean: {:.3}.", self.score, self.baseline)
        }
    }
}

impl Taught {
    pub fn report(&self) -> TeachReport {
        TeachReport { metric: self.score.metric.into(), score: self.score.value, baseline: self.baseline.value, folds: self.folds, examples: self.examples }
    }
}

/// The most folds; fewer when a class has fewer examples.
pub const TEACH_FOLDS: usize = 5;

/// An attribute taught from examples, and how well it generalises.
#[derive(Debug, Clone)]
pub struct Taught {
    pub task: Task,
    /// Fitted on every example.
    pub probe: Probe,
    /// Cross-validated: each example predicted by a probe fitted without its fold.
    pub score: Score,
    /// The same folds, predicting the training mean (for classes: the majority class).
    pub baseline: Score,
    pub folds: usize,
    pub examples: usize,
}

/// Fit `task` (classes or named values) from `embeddings` and their `targets` (a class index,
/// or one value per name), in the order the user gave them.
pub fn teach(task: &Task, embeddings: &[Vec<f32>], targets: &[Vec<f32>]) -> Result<Taught, String> {
    if embeddings.len() != targets.len() {
        return Err("one target per example".into());
    }
    let dim = embeddings.first().map_or(0, Vec::len);
    if embeddings.iter().any(|e| e.len() != dim || e.iter().any(|v| !v.is_finite())) || dim == 0 {
        return Err("the examples' embeddings differ in size or are not numbers: embed them again".into());
    }
    if targets.iter().any(|t| t.len() != task.target_len() || t.iter().any(|v| !v.is_finite())) {
        return Err(format!("each example needs {} target value(s)", task.target_len()));
    }
    // Examples grouped by label (classes), or all in one group (values).
    let groups: Vec<Vec<usize>> = match &task.kind {
        TaskKind::Classes { names } => {
            if names.len() < 2 {
                return Err("an attribute needs at least two classes".into());
            }
            let groups: Vec<Vec<usize>> = (0..names.len()).map(|c| (0..targets.len()).filter(|&i| targets[i][0] as usize == c).collect()).collect();
            if targets.iter().any(|t| t[0] < 0.0 || t[0] as usize >= names.len()) {
                return Err("an example is tagged with a class the attribute does not have".into());
            }
            if let Some((c, g)) = groups.iter().enumerate().find(|(_, g)| g.len() < 2) {
                return Err(format!("tag at least two faces as '{}' (now {})", names[c], g.len()));
            }
            groups
        }
        TaskKind::Regression { .. } => {
            if targets.len() < 4 {
                return Err(format!("tag at least four faces with a value (now {})", targets.len()));
            }
            let first = &targets[0];
            if targets.iter().all(|t| t == first) {
                return Err("every tagged face has the same value: tag some with others".into());
            }
            vec![(0..targets.len()).collect()]
        }
        _ => return Err("only classes or values are taught from tags".into()),
    };
    let folds = groups.iter().map(Vec::len).min().unwrap_or(0).clamp(2, TEACH_FOLDS);
    // Fold f holds the f-th contiguous run of each group.
    let fold_of = {
        let mut fold = vec![0; targets.len()];
        for g in &groups {
            for (at, &i) in g.iter().enumerate() {
                fold[i] = at * folds / g.len();
            }
        }
        fold
    };
    // Every example, fold by fold.
    let in_fold = |g: usize| (0..targets.len()).filter(|&i| fold_of[i] == g).collect::<Vec<usize>>();
    let whole = Rect { x: 0.0, y: 0.0, width: 1.0, height: 1.0 };
    let set = |rows: &[usize]| Labelled {
        truth: rows.iter().map(|&i| targets[i].clone()).collect(),
        frames: vec![whole; rows.len()],
        features: rows.iter().map(|&i| embeddings[i].clone()).collect(),
    };
    // Pooled over the folds: accuracy and MAE are means over examples, so the weighted mean of
    // the folds' scores is the score of all out-of-fold predictions.
    let (mut score, mut baseline) = (None::<Score>, None::<Score>);
    for f in 0..folds {
        // The training rows in fold order, so that the ridge strength's own contiguous
        // cross-validation inside the fit also sees every label in each of its folds.
        let train: Vec<usize> = (0..folds).filter(|&g| g != f).flat_map(in_fold).collect();
        let test = in_fold(f);
        let share = test.len() as f64 / targets.len() as f64;
        let fitted = fit_and_score(task, &set(&train), &set(&test), Lambda::CrossValidated).score;
        let mean = mean_score(task, &set(&train), &set(&test));
        accumulate(&mut score, fitted, share);
        accumulate(&mut baseline, mean, share);
    }
    let all: Vec<usize> = (0..folds).flat_map(in_fold).collect();
    let probe = fit_and_score(task, &set(&all), &set(&all[..1]), Lambda::CrossValidated).probe;
    Ok(Taught {
        task: task.clone(),
        probe,
        score: score.expect("at least two folds"),
        baseline: baseline.expect("at least two folds"),
        folds,
        examples: targets.len(),
    })
}

fn accumulate(total: &mut Option<Score>, fold: Score, share: f64) {
    match total {
        None => {
            let mut s = fold;
            s.value *= share;
            s.per_target.values_mut().for_each(|v| *v *= share);
            *total = Some(s);
        }
        Some(t) => {
            t.value += share * fold.value;
            for (k, v) in fold.per_target {
                *t.per_target.entry(k).or_default() += share * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_heads_answer_names_the_class() {
        let attribute = Attribute::parse(" mood ", "smiling, neutral,").unwrap();
        assert_eq!(attribute, Attribute { name: "mood".into(), classes: vec!["smiling".into(), "neutral".into()] });
        let described = attribute.task().describe_outputs();
        assert_eq!(class_names(&described).unwrap(), ["smiling", "neutral"]);
        assert_eq!(answer(&described, &[0.2, 0.9]), "neutral (scores: smiling 0.20, neutral 0.90)");
        // A value head, or scores that do not match the names: the numbers.
        let mouth = Attribute::parse("mouth open", "").unwrap();
        assert!(mouth.classes.is_empty());
        assert_eq!(class_names(&mouth.task().describe_outputs()), None);
        assert_eq!(answer(&mouth.task().describe_outputs(), &[0.25]), "0.250");
        assert_eq!(answer(&described, &[0.25]), "0.250");
    }

    #[test]
    fn typed_attributes_are_checked() {
        assert!(Attribute::parse("  ", "a, b").unwrap_err().contains("name"));
        assert!(Attribute::parse("mood", "smiling").unwrap_err().contains("two classes"));
        assert!(Attribute::parse("mood", "a, b, a").unwrap_err().contains("its own name"));
    }

    /// Frames of "clips": a per-clip direction plus drift along the clip and noise.
    fn clip(direction: u64, n: usize) -> Vec<Vec<f32>> {
        let mut s = direction.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut noise = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centre: Vec<f32> = (0..24).map(|_| noise() * 2.0).collect();
        (0..n).map(|t| centre.iter().enumerate().map(|(j, c)| c + 0.3 * (t as f32 * 0.2 + j as f32).sin() + 0.4 * noise()).collect()).collect()
    }

    fn classes() -> Task {
        Task { name: "who".into(), kind: TaskKind::Classes { names: vec!["a".into(), "b".into()] } }
    }

    #[test]
    fn two_clips_as_two_classes_are_told_apart_well_above_the_majority() {
        let (a, b) = (clip(1, 30), clip(2, 20));
        let embeddings: Vec<Vec<f32>> = a.iter().chain(&b).cloned().collect();
        let targets: Vec<Vec<f32>> = (0..50).map(|i| vec![if i < 30 { 0.0 } else { 1.0 }]).collect();
        let taught = teach(&classes(), &embeddings, &targets).unwrap();
        assert_eq!((taught.folds, taught.examples, taught.score.metric), (5, 50, "accuracy"));
        assert!(taught.score.value > 0.95, "{:?}", taught.score);
        assert!((taught.baseline.value - 0.6).abs() < 1e-9, "the majority class is 30 of 50: {:?}", taught.baseline);
        // The refitted probe classifies every example.
        let right = embeddings.iter().zip(&targets).filter(|(e, t)| crate::probe::metrics::argmax(&taught.probe.predict(e)) == t[0] as usize).count();
        assert_eq!(right, 50);
    }

    #[test]
    fn labels_unrelated_to_the_faces_do_no_better_than_the_baseline() {
        let embeddings = clip(3, 40);
        // Alternate labels on one clip: nothing to learn.
        let targets: Vec<Vec<f32>> = (0..40).map(|i| vec![(i % 2) as f32]).collect();
        let taught = teach(&classes(), &embeddings, &targets).unwrap();
        assert!(taught.score.value < 0.75, "{:?}", taught.score);
    }

    #[test]
    fn a_value_is_regressed_beside_the_mean() {
        let embeddings = clip(4, 40);
        // The value is the first feature, plus a little noise-free offset.
        let targets: Vec<Vec<f32>> = embeddings.iter().map(|e| vec![e[0] * 2.0 + 1.0]).collect();
        let task = Task { name: "mouth open".into(), kind: TaskKind::Regression { names: vec!["mouth open".into()] } };
        let taught = teach(&task, &embeddings, &targets).unwrap();
        assert_eq!(taught.score.metric, "mae");
        assert!(taught.score.value < 0.2 * taught.baseline.value, "{:?} vs {:?}", taught.score, taught.baseline);
    }

    #[test]
    fn too_few_or_bad_examples_are_refused_with_a_reason() {
        let e = clip(5, 3);
        let err = teach(&classes(), &e, &[vec![0.0], vec![0.0], vec![1.0]]).unwrap_err();
        assert!(err.contains("at least two faces as 'b'"), "{err}");
        let err = teach(&classes(), &e, &[vec![0.0], vec![1.0], vec![2.0]]).unwrap_err();
        assert!(err.contains("class the attribute does not have"), "{err}");
        let mut nan = e.clone();
        nan[1][0] = f32::NAN;
        assert!(teach(&classes(), &nan, &[vec![0.0], vec![0.0], vec![1.0]]).is_err());
        let task = Task { name: "v".into(), kind: TaskKind::Regression { names: vec!["v".into()] } };
        assert!(teach(&task, &clip(6, 5), &vec![vec![1.0]; 5]).unwrap_err().contains("same value"));
    }
}
