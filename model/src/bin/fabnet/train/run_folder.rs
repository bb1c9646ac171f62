//! A run's folder: the checkpoint (weights, optimizer, run state), swapped so that a complete
//! one is on disk at every instant, and the checks that keep a new run from writing over an old
//! one.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::{Bytes, Device};
use fabnet::session::{Session, SessionSettings, SessionState};
use fabnet::weights::{self, WeightsInfo};
use fabnet::{FabNet, FabNetConfig};
use serde::{Deserialize, Serialize};

use super::args::TrainArgs;

/// Everything needed to continue exactly: written with every checkpoint.
#[derive(Serialize, Deserialize)]
pub struct RunState {
    pub args: TrainArgs,
    pub config: FabNetConfig,
    /// The resolved session settings. (Absent in checkpoints from before the session: they are
    /// resolved from `args` again.)
    #[serde(default)]
    pub settings: Option<SessionSettings>,
    #[serde(flatten)]
    pub session: SessionState,
    /// The first epoch of stage 2 in checkpoints from before `settings` held it.
    #[serde(default)]
    pub stage2_from: Option<u64>,
}

impl RunState {
    /// The settings the run began with.
    pub fn settings(&self) -> Result<SessionSettings> {
        match &self.settings {
            Some(s) => Ok(s.clone()),
            None => self.args.settings(self.stage2_from.unwrap_or_else(|| self.args.stage2_from())),
        }
    }
}

/// A file written and flushed to the disk before it is renamed into place.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all().with_context(|| format!("cannot flush {}", path.display()))
}

/// Flushes a folder's entries (the renames in it) to the disk; a no-op where folders cannot
/// be opened as files.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `RUN/checkpoint` so that a complete checkpoint is on disk at every instant: the new
/// one is built and flushed aside (`checkpoint.tmp`), the current one steps aside
/// (`checkpoint.old`), the new one moves in, and only then the old one goes. A kill between
/// the two renames leaves `checkpoint.old`, which [`load_checkpoint`] falls back to.
pub fn save_checkpoint(out: &Path, session: &Session, args: &TrainArgs) -> Result<()> {
    let state = RunState {
        args: args.clone(),
        config: session.model().config,
        settings: Some(session.settings().clone()),
        session: session.state().clone(),
        stage2_from: None,
    };
    let tmp = out.join("checkpoint.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let model = session.model();
    let info = WeightsInfo::for_model(model, format!("checkpoint of `fabnet train` at step {}", state.session.step));
    write_synced(&tmp.join("model.fabnet"), &weights::to_bytes(model, &info)?)?;
    write_synced(&tmp.join("optimizer.bpk"), &session.optimizer_bytes()?[..])?;
    // state.json last: a checkpoint folder with it is complete.
    write_synced(&tmp.join("state.json"), serde_json::to_string_pretty(&state)?.as_bytes())?;
    sync_dir(&tmp);
    let current = out.join("checkpoint");
    let old = out.join("checkpoint.old");
    if current.join("state.json").exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&current, &old)?;
    } else {
        // Half a checkpoint (a crash while the old one was being removed): the old one stays.
        let _ = std::fs::remove_dir_all(&current);
    }
    sync_dir(out);
    if let Some(pause) = std::env::var_os("FABNET_TEST_CHECKPOINT_SWAP_PAUSE_MS") {
        // Tests kill the process here, between the two renames.
        std::thread::sleep(std::time::Duration::from_millis(pause.to_string_lossy().parse().unwrap_or(0)));
    }
    std::fs::rename(&tmp, &current)?;
    sync_dir(out);
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Whether `out` holds a checkpoint, complete or left aside by a swap that was cut short.
pub fn has_checkpoint(out: &Path) -> bool {
    ["checkpoint", "checkpoint.old"].iter().any(|c| out.join(c).join("state.json").exists())
}

/// A new run must not write into a folder that holds another run's checkpoint or logs.
pub fn check_fresh(out: &Path) -> Result<()> {
    if has_checkpoint(out) {
        bail!("{} already holds a run; pass --resume to continue it, or choose another --out", out.display());
    }
    if ["metrics.csv", "metrics.jsonl"].iter().any(|f| out.join(f).exists()) {
        bail!("{} holds the logs of a run but no checkpoint to continue it from; choose another --out (or remove the old logs)", out.display());
    }
    Ok(())
}

pub fn load_checkpoint(out: &Path, device: &Device) -> Result<(RunState, FabNet, Bytes)> {
    let read = |dir: &Path| -> Result<(RunState, FabNet, Bytes)> {
        let state: RunState = serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).context("no state.json")?)
            .context("the checkpoint's state.json is damaged")?;
        let (model, _) = weights::from_bytes(&std::fs::read(dir.join("model.fabnet"))?, device)?;
        let optimizer = Bytes::from_bytes_vec(std::fs::read(dir.join("optimizer.bpk"))?);
        Ok((state, model, optimizer))
    };
    match read(&out.join("checkpoint")) {
        Ok(loaded) => Ok(loaded),
        Err(newest) => match read(&out.join("checkpoint.old")) {
            Ok(loaded) => {
                eprintln!("warning: the newest checkpoint is incomplete ({newest:#}); resuming from the one before it");
                Ok(loaded)
            }
            Err(_) if !has_checkpoint(out) => bail!("no checkpoint to resume in {}", out.display()),
            Err(_) => Err(newest.context(format!("the checkpoint in {} cannot be read", out.display()))),
        },
    }
}
