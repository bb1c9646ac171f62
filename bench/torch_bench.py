"""The PyTorch side of `fabnet bench`: the same network, batch sizes and train step.

    python bench/torch_bench.py [--size 256 --width 32 --embedding 256 --views 3 --train-batch 8]
                                [--device cpu|cuda] [--threads N]

Uses the reference builder of tests/parity/make_fixtures.py, so the networks are identical.
On a GPU every timed region ends with a synchronisation, as `fabnet bench` ends its with a read.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'parity'))
from make_fixtures import FabNet, multiview  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--size', type=int, default=256)
p.add_argument('--width', type=int, default=32)
p.add_argument('--embedding', type=int, default=256)
p.add_argument('--views', type=int, default=3)
p.add_argument('--encoder-batch', type=int, default=1)
p.add_argument('--train-batch', type=int, default=8)
p.add_argument('--steps', type=int, default=3)
p.add_argument('--device', default='cpu')
p.add_argument('--threads', type=int, default=0, help='CPU threads (0: PyTorch\'s default)')
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
device = torch.device(a.device)


def sync():
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


model = FabNet(a.size, a.width, a.embedding, True).to(device)
model.eval()
x = torch.rand(a.encoder_batch, 3, a.size, a.size, device=device)
with torch.no_grad():
    t = time.perf_counter()
    model.encoder(x)
    sync()
    encode_first_s = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(a.steps):
        model.encoder(x)
    sync()
    encode_s = (time.perf_counter() - t) / a.steps

model.train()
groups = [{'params': model.encoder.parameters()}, {'params': model.mask.parameters()},
          {'params': model.decoder.parameters(), 'lr': 0 if a.views > 1 else 1e-4}]
opt = torch.optim.SGD(groups, lr=1e-4, momentum=0.9)


def step():
    target = torch.rand(a.train_batch, 3, a.size, a.size, device=device)
    sources = [torch.rand(a.train_batch, 3, a.size, a.size, device=device) for _ in range(a.views)]
    opt.zero_grad()
    fused = multiview(model, target, sources, True)[2]
    losses = (fused - target).abs().view(a.train_batch, -1).mean(1)
    losses.sort()[0][0:int(0.5 * a.train_batch)].mean().backward()
    opt.step()


t = time.perf_counter()
step()
sync()
train_first_s = time.perf_counter() - t
t = time.perf_counter()
for _ in range(a.steps):
    step()
sync()
step_s = (time.perf_counter() - t) / a.steps
print(json.dumps({'framework': f'torch {torch.__version__}', 'device': str(device),
                  'device_name': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
                  'threads': torch.get_num_threads(), 'size': a.size, 'views': a.views,
                  'encoder_batch': a.encoder_batch, 'encoder_first_ms': encode_first_s * 1e3,
                  'encoder_images_per_s': a.encoder_batch / encode_s, 'train_batch': a.train_batch,
                  'train_first_ms': train_first_s * 1e3, 'train_step_s': step_s,
                  'train_samples_per_s': a.train_batch / step_s}))
