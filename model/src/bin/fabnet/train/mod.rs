//! `fabnet train`: FAb-Net from face-track folders through the model crate's training session
//! (`fabnet::session`, which the browser's worker drives too), rendered here as a progress bar,
//! CSV/JSONL/TensorBoard metrics and PNG grids, with atomic checkpoints and exact resume.
//!
//! A hand-written loop rather than burn-train's `Learner`: the curriculum moves the loss
//! window on validation plateaus between epochs and the second stage freezes the flow decoder,
//! neither of which the learner's step/scheduler interfaces express, and the checkpoint must
//! carry the curriculum and the data position for an exact resume.

mod args;
mod logs;
mod run_folder;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use fabnet::data::{BadFrames, FaceTracks, FolderSource, FrameSource, Loader};
use fabnet::session::{Session, SessionEvent};
use fabnet::train::Stage;
use fabnet::weights::{self, WeightsInfo};
use fabnet::{FabNet, FabNetConfig};
use indicatif::{ProgressBar, ProgressStyle};

pub use args::TrainArgs;
use logs::{Metrics, Position, Row, grid};
use run_folder::{check_fresh, load_checkpoint, save_checkpoint};

pub fn run(args: &TrainArgs) -> Result<()> {
    let device = crate::device(args.devices.first().unwrap_or(&args.backend))?;
    let train_device = device.clone().autodiff();
    // Data parallel: every batch is split over these; the first holds the model.
    let shard_devices = args.devices.iter().map(|name| crate::device(name)).collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;

    // A fresh run starts from the arguments; a resumed one from its checkpoint, whose settings
    // win except for the length of the run (the stage boundary, resolved at the start, stays).
    let (run_args, settings, model, resumed) = if args.resume {
        let (state, model, optimizer) = load_checkpoint(&args.out, &train_device)?;
        let mut settings = state.settings()?;
        let mut run_args = state.args.clone();
        if let Some(epochs) = args.epochs {
            settings.epochs = epochs;
            run_args.epochs = Some(epochs);
        }
        run_args.checkpoint_every = args.checkpoint_every;
        run_args.max_steps = args.max_steps;
        (run_args, settings, model, Some((state.session, optimizer)))
    } else {
        check_fresh(&args.out)?;
        let settings = args.settings(args.stage2_from())?;
        (args.clone(), settings, fresh_model(args, &train_device)?, None)
    };
    let args = run_args;
    let position = resumed.as_ref().map(|(s, _)| Position { epoch: s.epoch, step: s.step });
    std::fs::write(
        args.out.join("config.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "args": args, "model": model.config, "settings": settings }))?,
    )?;

    let bad = Arc::new(BadFrames::default());
    let (train, val) = datasets(&args, &bad)?;
    let mut session = match resumed {
        Some((state, optimizer)) => Session::resume(model, Some(optimizer), settings, state, train, val, device, shard_devices),
        None => Session::new(model, settings, train, val, device, shard_devices),
    }
    .map_err(|e| anyhow::anyhow!(e))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C finishes the current step, then checkpoints and exits.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let mut metrics = Metrics::open(&args.out, position)?;
    std::fs::create_dir_all(args.out.join("images"))?;
    let mut steps_this_run = 0u64;

    while !session.is_finished() {
        let batches = session.remaining_batches();
        let (epoch, per_epoch) = (session.state().epoch, session.steps_per_epoch());
        let bar = ProgressBar::new(per_epoch).with_position(batches.start);
        bar.set_style(ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}").expect("valid template").progress_chars("=> "));
        bar.set_prefix(format!("{}/{}", epoch + 1, session.settings().epochs));
        let mut last = Instant::now();
        let mut trained = 0;
        for host in Loader::start(session.batch_maker(), batches.start, batches.end - batches.start, args.workers) {
            let events = pollster::block_on(session.step(host));
            trained += 1;
            steps_this_run += 1;
            let samples_per_s = events.iter().find_map(|e| if let SessionEvent::Step { examples, .. } = e { Some(*examples) } else { None }).unwrap_or(0)
                as f64
                / last.elapsed().as_secs_f64();
            last = Instant::now();
            let mut epoch_ended = false;
            for event in events {
                match event {
                    SessionEvent::Step { epoch, step, loss, window, learning_rate, .. } => {
                        let row = Row {
                            kind: "train",
                            epoch,
                            step,
                            loss,
                            window_min: window.min,
                            window_max: window.max,
                            lr: learning_rate,
                            samples_per_s,
                            bad_frames: bad.count(),
                        };
                        metrics.write(&row)?;
                        bar.set_message(format!("loss {loss:.4}  {samples_per_s:.1} samples/s"));
                        bar.inc(1);
                    }
                    SessionEvent::Samples(samples) => {
                        let path = args.out.join(format!("images/step{:07}.png", samples.step));
                        metrics.image(&path, samples.step, &grid(&samples))?;
                    }
                    SessionEvent::Validation { epoch, step, loss, best } => {
                        epoch_ended = true;
                        let window = session.window();
                        let row = Row {
                            kind: "val",
                            epoch,
                            step,
                            loss,
                            window_min: window.min,
                            window_max: window.max,
                            lr: session.learning_rate(),
                            samples_per_s: 0.0,
                            bad_frames: bad.count(),
                        };
                        metrics.write(&row)?;
                        bar.finish_and_clear();
                        eprintln!("epoch {}/{}: validation L1 {loss:.4}", epoch + 1, session.settings().epochs);
                        if best {
                            let model = session.model().valid();
                            weights::save_file(&args.out.join("best.fabnet"), &model, &run_weights_info(&model, &args, &session, "best"))?;
                        }
                    }
                    SessionEvent::CurriculumMoved { window } => {
                        eprintln!("  curriculum window moved to [{:.0}%, {:.0}%]", window.min * 100.0, window.max * 100.0)
                    }
                    SessionEvent::LearningRateDropped { learning_rate } => eprintln!("  learning rate reduced to {learning_rate}"),
                    SessionEvent::StageChanged { epoch, stage, views } => eprintln!(
                        "epoch {}: stage {}, {views} source view(s){}",
                        epoch + 1,
                        if stage == Stage::FrozenFlow { 2 } else { 1 },
                        if stage == Stage::FrozenFlow { ", flow decoder frozen" } else { "" }
                    ),
                    SessionEvent::Finished { .. } => {}
                    SessionEvent::Problem(problem) => {
                        bar.finish_and_clear();
                        bail!("{problem}; the last checkpoint is intact (lower --lr and --resume)");
                    }
                }
            }
            // After every epoch, and every --checkpoint-every steps within one.
            if epoch_ended || (args.checkpoint_every > 0 && session.state().step.is_multiple_of(args.checkpoint_every)) {
                save_checkpoint(&args.out, &session, &args)?;
            }
            let interrupted = stop.load(Ordering::SeqCst);
            if interrupted || args.max_steps.is_some_and(|m| steps_this_run >= m) {
                bar.finish_and_clear();
                if !epoch_ended {
                    save_checkpoint(&args.out, &session, &args)?;
                }
                eprintln!(
                    "{} at step {}; checkpoint written. Continue with: fabnet train --out {} --data {} --resume",
                    if interrupted { "stopped" } else { "paused" },
                    session.state().step,
                    args.out.display(),
                    args.data.display()
                );
                return Ok(());
            }
        }
        bar.finish_and_clear();
        if trained < batches.end - batches.start {
            bail!("the training data ran out: every track drawn was unreadable ({} bad frames)", bad.count());
        }
    }
    let model = session.model().valid();
    weights::save_file(&args.out.join("final.fabnet"), &model, &run_weights_info(&model, &args, &session, "final"))?;
    eprintln!(
        "done: {} steps; final weights {}, best (validation L1 {:.4}) {}; {} unreadable frames skipped",
        session.state().step,
        args.out.join("final.fabnet").display(),
        session.state().best_val.unwrap_or(f64::NAN),
        args.out.join("best.fabnet").display(),
        bad.count()
    );
    Ok(())
}

/// The network a fresh run starts from: `--init`'s weights (their head dropped) or a seeded
/// `--preset`.
fn fresh_model(args: &TrainArgs, train_device: &burn::tensor::Device) -> Result<FabNet> {
    if let Some(path) = &args.init {
        let model = crate::load_any_weights(path, train_device)?;
        if model.head.is_some() {
            eprintln!("note: the linear head of {} is dropped (it was fitted to the embedding before fine-tuning)", path.display());
        }
        let config = model.config.with_source_views(args.views);
        return Ok(FabNet { config, ..model.with_head(None) });
    }
    let config = FabNetConfig::preset(&args.preset)?.with_source_views(args.views);
    // Seeded initial weights: the same arguments give the same run.
    train_device.seed(args.seed);
    Ok(FabNet::new(config, train_device)?)
}

/// Training and validation tracks: `--val`, or identities split off `--data`.
fn datasets(args: &TrainArgs, bad: &Arc<BadFrames>) -> Result<(Arc<dyn FrameSource>, Arc<dyn FrameSource>)> {
    let data = FaceTracks::scan(&args.data, 2)?;
    let (train, val) = match &args.val {
        Some(v) => (data, FaceTracks::scan(v, 2)?),
        None => {
            let split = data.split(args.val_fraction, args.seed);
            if !split.by_identity {
                eprintln!("warning: one identity only; validating on held-out tracks/frames of it");
            }
            (split.train, split.val)
        }
    };
    eprintln!(
        "data: {} train tracks ({} identities, {} frames), {} validation tracks ({} identities)",
        train.tracks.len(),
        train.identities().len(),
        train.frame_count(),
        val.tracks.len(),
        val.identities().len()
    );
    Ok((Arc::new(FolderSource::new(train, bad.clone())), Arc::new(FolderSource::new(val, bad.clone()))))
}

/// What the run's weights say of themselves: provenance, and the seed of their initialisation
/// (the untrained baseline of `fabnet eval --baselines`).
fn run_weights_info(model: &FabNet, args: &TrainArgs, session: &Session, which: &str) -> WeightsInfo {
    let data = args.describe_data.as_ref().map(|d| format!("Data: {d}. ")).unwrap_or_default();
    let start = args.init.as_ref().map(|p| format!("Fine-tuned from {}. ", p.display())).unwrap_or_default();
    let from = args.init.as_ref().map_or_else(|| format!("--preset {}", args.preset), |p| format!("--init {}", p.display()));
    let provenance = format!(
        "{data}{start}The {which} weights of `fabnet train --data {} {from} --recipe {} --seed {}`: {}",
        args.data.display(),
        args.recipe,
        args.seed,
        session.describe()
    );
    let mut info = WeightsInfo::for_model(model, provenance);
    info.init_seed = args.init.is_none().then_some(args.seed);
    info
}
