"""Train FAb-Net in PyTorch with the authors' recipe, as a reference for `fabnet train`.

Re-expresses oawiles/FAb-Net train_attention_curriculum.py, VoxCelebData_withmask.py and
utils_scheduler/TrackLoss.py (Python 2, 256 px, env-var paths) for any preset, on our
IDENTITY/VIDEO/TRACK/*.jpg folders and with the budget in steps, as our trainer has it. The
network and the multi-view loss come from make_fixtures.py; the weights are written in the
released layout ({'state_dict_model': ...}) that `fabnet import` reads.

    python3 tests/parity/reference_train.py --data TRACKS --out RUN.pth [--preset small] ...
    python3 tests/parity/reference_train.py --init-only --out INIT.pth [--preset small --seed 0]

Writes RUN.pth (best validation), RUN.final.pth (last epoch) and RUN.pth.json (summary).
"""
import argparse
import copy
import functools
import json
import math
import os
import random
import sys
import time
import types

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torchvision import transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import safetensors.torch  # noqa: F401  (make_fixtures needs it only to write fixtures)
except ImportError:
    sys.modules['safetensors'] = types.ModuleType('safetensors')
    sys.modules['safetensors.torch'] = types.SimpleNamespace(save_file=None)
from make_fixtures import FabNet, multiview  # noqa: E402

PRESETS = {'paper': (256, 32, 256), 'browser': (128, 16, 128), 'small': (64, 8, 64), 'tiny': (32, 4, 32)}
FRAME_EXTENSIONS = ('.jpg', '.jpeg', '.png')  # as our scanner (the authors took .jpg only)
MIN_FRAMES = 2  # as `fabnet train`


def entries(path, dirs):
    names = sorted(n for n in os.listdir(path) if not n.startswith('.'))
    return [n for n in names if os.path.isdir(os.path.join(path, n)) == dirs]


def scan(root):
    """[(identity, video, [frame paths in name order])] of every track with enough frames."""
    if not os.path.isdir(root):
        sys.exit(f'--data {root}: not a folder (expected IDENTITY/VIDEO/TRACK/*.jpg)')
    tracks = []
    for ident in entries(root, True):
        for video in entries(os.path.join(root, ident), True):
            for track in entries(os.path.join(root, ident, video), True):
                folder = os.path.join(root, ident, video, track)
                frames = [os.path.join(folder, f) for f in entries(folder, False) if f.lower().endswith(FRAME_EXTENSIONS)]
                if len(frames) >= MIN_FRAMES:
                    tracks.append((ident, video, frames))
    if not tracks:
        sys.exit(f'--data {root}: no face tracks (expected IDENTITY/VIDEO/TRACK/*.jpg with at least '
                 f'{MIN_FRAMES} frames each, as `fabnet prepare` writes)')
    return tracks


def group(tracks):
    """identity -> video -> tracks, as lists, which is how the authors' dataset draws."""
    ids = {}
    for ident, video, frames in tracks:
        ids.setdefault(ident, {}).setdefault(video, []).append(frames)
    return [list(videos.values()) for videos in ids.values()]


def split(tracks, fraction, seed):
    """As our trainer: one identity -> its last tracks, or the last fifth of its only track;
    several -> a seeded choice of about `fraction` of the identities."""
    ids = sorted({t[0] for t in tracks})
    if len(ids) == 1:
        n = len(tracks)
        if n >= 2:
            k = min(max(int(math.floor(n * fraction + 0.5)), 1), n - 1)
            return tracks[:n - k], tracks[n - k:]
        ident, video, frames = tracks[0]
        keep = len(frames) - max(len(frames) // 5, 1)
        return [(ident, video, frames[:keep])], [(ident, video, frames[keep:])]
    k = min(max(int(math.floor(len(ids) * fraction + 0.5)), 1), len(ids) - 1)
    held = set(random.Random(seed).sample(ids, k))
    return [t for t in tracks if t[0] not in held], [t for t in tracks if t[0] in held]


@functools.lru_cache(maxsize=4096)
def precropped(path, precrop):
    """The deterministic head of the authors' transform: Scale(256), Pad, CenterCrop."""
    try:
        img = Image.open(path).convert('RGB')
    except Exception as e:  # a clear message beats a PIL traceback deep in a batch
        sys.exit(f'cannot read frame {path}: {e}')
    return T.Compose([T.Resize((256, 256)), T.Pad((20, 80, 20, 30)), T.CenterCrop(precrop)])(img)


class Examples:
    """VoxCeleb2 of VoxCelebData_withmask.py, built afresh per epoch with its own seed: the
    crop size is drawn once for the dataset, the crop position per image (torch's RNG)."""

    def __init__(self, identities, views, seed, size, jitter):
        self.identities, self.views = identities, views
        self.rng = np.random.RandomState(seed)
        crop = 170
        if jitter:
            self.precrop = crop + 20
            crop = self.rng.randint(crop, self.precrop)
            self.tail = T.Compose([T.RandomCrop(crop), T.Resize((size, size)), T.ToTensor()])
        else:
            self.precrop = crop
            self.tail = T.Compose([T.Resize((size, size)), T.ToTensor()])
        self.crop = crop

    def example(self, index):
        videos = self.identities[index]
        video = videos[self.rng.randint(len(videos))]
        frames = video[self.rng.randint(len(video))]
        picks = self.rng.choice(len(frames), self.views, replace=self.views > len(frames))
        return [self.tail(precropped(frames[i], self.precrop)) for i in picks]

    def batch(self, indices):
        views = list(zip(*[self.example(int(i)) for i in indices]))
        views = [torch.stack(v) for v in views]
        return views[0], views[1:]  # target first, then the sources


class TrackLoss:
    """utils_scheduler/TrackLoss.py, with its hard-coded 15 as `patience`."""

    def __init__(self, patience):
        self.patience, self.best_epoch, self.best_score, self.last_warm = patience, -1, 1000, -1

    def update(self, loss, epoch):
        if loss < self.best_score:
            self.best_score, self.best_epoch, self.last_warm = loss, epoch, epoch

    def drop_learning_rate(self, epoch):
        if epoch - self.best_epoch > self.patience and epoch - self.last_warm > self.patience:
            self.last_warm = epoch
            return True
        return False


def windowed_l1(model, target, sources, window):
    fused = multiview(model, target, sources, True)[2]
    per_sample = (fused - target).abs().view(target.size(0), -1).mean(dim=1)
    b = target.size(0)
    return per_sample.sort()[0][int(window[0] * b):int(window[1] * b)].mean()


def make_optimizer(model, args, decoder_lr):
    # Always the authors' num_views > 2 grouping, so that freezing the flow decoder is an lr
    # of 0 on group 0 and the other groups keep their state.
    groups = [{'params': model.decoder.parameters(), 'lr': decoder_lr},
              {'params': model.encoder.parameters(), 'lr': args.lr},
              {'params': model.mask.parameters(), 'lr': args.lr}]
    if args.optimizer == 'sgd':
        return torch.optim.SGD(groups, lr=args.lr, momentum=0.9)
    return torch.optim.Adam(groups, lr=args.lr)


def validate(model, val_ids, views, args, size):
    # The authors' VoxCeleb2(num_views, 0, 2, jittering=True): seed 0 for the crop size; the
    # crop positions are seeded too, so every epoch sees the same examples.
    model.eval()
    examples = Examples(val_ids, views + 1, 1000003 * args.seed, size, not args.no_jitter)
    total = 0.0
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed + 1)
        for b in range(args.val_batches):
            target, sources = examples.batch([(b * args.batch + i) % len(val_ids) for i in range(args.batch)])
            total += windowed_l1(model, target, sources, (0, 1)).item()
    return total / args.val_batches


def final_path(out):
    return (out[:-4] if out.endswith('.pth') else out) + '.final.pth'


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', help='IDENTITY/VIDEO/TRACK/*.jpg face tracks')
    p.add_argument('--out', required=True, help='weights file (.pth); also writes .final.pth and .pth.json')
    p.add_argument('--preset', default='small', choices=PRESETS)
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--stage1-epochs', type=int, help='epochs with one source view (default: half)')
    p.add_argument('--views', type=int, default=3, help='source views in stage 2 (flow decoder frozen)')
    p.add_argument('--steps-per-epoch', type=int, default=1000)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--val-batches', type=int, default=8)
    p.add_argument('--val-fraction', type=float, default=0.1)
    p.add_argument('--optimizer', default='sgd', choices=['sgd', 'adam'])
    p.add_argument('--lr', type=float, default=1e-4)
    p.add_argument('--patience', type=int, default=15)
    p.add_argument('--plateau-every-val', action='store_true',
                   help='once the window is done, feed every validation to ReduceLROnPlateau (as ours); '
                        'the authors only step it when TrackLoss fires')
    p.add_argument('--stage2-restart', action='store_true',
                   help='stage 2 starts a fresh optimizer and schedulers (the authors ran it as a second '
                        'run); default: keep them')
    p.add_argument('--bn-init', default='ones', choices=['ones', 'uniform'],
                   help="BatchNorm gamma at init: ones (PyTorch >= 1.0, ours) or U(0,1) (the authors' 0.4)")
    p.add_argument('--no-jitter', action='store_true')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2,
                   help='torch.set_num_threads; use 1 on a busy 2-core machine (2 threads ran ~15x slower there)')
    p.add_argument('--init-only', action='store_true', help='save the seeded untrained network and exit')
    args = p.parse_args()
    if args.stage1_epochs is None:
        args.stage1_epochs = args.epochs // 2
    if args.batch < 2:
        p.error('--batch must be at least 2 (the [0, 50%] window of a batch of 1 is empty)')
    if args.views < 1 or args.epochs < 1 or args.steps_per_epoch < 1 or args.val_batches < 1:
        p.error('--views, --epochs, --steps-per-epoch and --val-batches must be positive')

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    size, width, embedding = PRESETS[args.preset]
    model = FabNet(size, width, embedding, True)
    if args.bn_init == 'uniform':
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_()
    if args.init_only:
        torch.save({'state_dict_model': model.state_dict()}, args.out)
        print(f'untrained {args.preset} network (seed {args.seed}) written to {args.out}')
        return
    if not args.data:
        p.error('--data is required (unless --init-only)')

    train_tracks, val_tracks = split(scan(args.data), args.val_fraction, args.seed)
    train_ids, val_ids = group(train_tracks), group(val_tracks)
    print(f'data: {len(train_tracks)} train tracks ({len(train_ids)} identities, '
          f'{sum(len(t[2]) for t in train_tracks)} frames), {len(val_tracks)} validation tracks '
          f'({len(val_ids)} identities, {sum(len(t[2]) for t in val_tracks)} frames)', flush=True)

    optimizer = make_optimizer(model, args, args.lr if args.stage1_epochs > 0 else 0.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    tracker = TrackLoss(args.patience)
    window = [0.0, 0.5]
    best, best_val, best_epoch, history, start = None, math.inf, None, [], time.time()
    for epoch in range(args.epochs):
        tic = time.time()
        stage2 = epoch >= args.stage1_epochs
        views = args.views if stage2 else 1
        if stage2 and epoch == args.stage1_epochs and epoch > 0:
            if args.stage2_restart:
                optimizer = make_optimizer(model, args, 0.0)
                plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
                tracker = TrackLoss(args.patience)
            optimizer.param_groups[0]['lr'] = 0.0

        model.train()
        # The authors seed each epoch's dataset with the epoch; --seed 0 keeps exactly that.
        examples = Examples(train_ids, views + 1, 1000003 * args.seed + epoch, size, not args.no_jitter)
        train_loss = 0.0
        for _ in range(args.steps_per_epoch):
            target, sources = examples.batch(torch.randint(len(train_ids), (args.batch,)))
            optimizer.zero_grad()
            loss = windowed_l1(model, target, sources, window)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
        train_loss /= args.steps_per_epoch

        val_loss = validate(model, val_ids, views, args, size)
        used_window, lr = list(window), optimizer.param_groups[1]['lr']
        if val_loss < best_val:
            best_val, best_epoch, best = val_loss, epoch, copy.deepcopy(model.state_dict())

        # run() of train_attention_curriculum.py
        tracker.update(val_loss, epoch)
        if args.plateau_every_val and window[1] >= 0.85:
            plateau.step(val_loss)
        elif tracker.drop_learning_rate(epoch):
            if window[1] < 0.85:
                window = [window[0] + 0.1, window[1] + 0.1]
                tracker = TrackLoss(args.patience)
            else:
                plateau.step(val_loss)

        seconds = time.time() - tic
        history.append({'epoch': epoch, 'views': views, 'crop': int(examples.crop), 'train_loss': train_loss,
                        'val_loss': val_loss, 'window': used_window, 'lr': lr, 'seconds': seconds})
        print(f'epoch {epoch + 1}/{args.epochs} views {views}: train {train_loss:.5f}  val {val_loss:.5f}  '
              f'window [{used_window[0]:.2f}, {used_window[1]:.2f}]  lr {lr:.3g}  {seconds:.1f}s', flush=True)

    if best is None:  # no finite validation loss: the final weights are all there is
        best = model.state_dict()
    torch.save({'state_dict_model': best}, args.out)
    torch.save({'state_dict_model': model.state_dict()}, final_path(args.out))
    summary = {'args': vars(args), 'epochs': history, 'best_val': best_val if best_epoch is not None else None,
               'best_epoch': best_epoch,
               'wall_s': time.time() - start, 'final_window': window,
               'data': {'train_tracks': len(train_tracks), 'val_tracks': len(val_tracks),
                        'train_identities': len(train_ids), 'val_identities': len(val_ids)}}
    with open(args.out + '.json', 'w') as f:
        json.dump(summary, f, indent=1)
    print(f'best (val {best_val:.5f}) -> {args.out}; final -> {final_path(args.out)}; summary -> {args.out}.json')


if __name__ == '__main__':
    main()
