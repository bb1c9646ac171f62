"""Reference outputs for the Rust parity tests (model/tests/parity.rs).

Builds FAb-Net in PyTorch from the authors' published layer list
(oawiles/FAb-Net, models_multiview.py: FrontaliseModelMasks_wider, and the loss of
train_attention_curriculum.py), gives it random weights with non-trivial BatchNorm running
statistics, saves them in the released checkpoint layout ({'state_dict_model', 'state_dict'}),
and records inputs, outputs and gradients as safetensors.

    python tests/parity/make_fixtures.py   # needs torch, safetensors; writes tests/parity/*.pth|*.safetensors

The fixtures are committed so that CI needs no torch. The architecture is written generically
in depth (the encoder goes down to 1x1), and checked against the verbatim paper layer list.
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def encoder_layers(depth, width, out):
    """generate_encoder_layers: conv, [lrelu, conv, bn] x (depth-2), lrelu, conv."""
    ch = lambda i: out if i == depth - 1 else width * 2 ** min(i, 3)
    layers = [nn.Conv2d(3, ch(0), 4, 2, 1)]
    for i in range(1, depth - 1):
        layers += [nn.LeakyReLU(0.2, True), nn.Conv2d(ch(i - 1), ch(i), 4, 2, 1), nn.BatchNorm2d(ch(i))]
    layers += [nn.LeakyReLU(0.2, True), nn.Conv2d(ch(depth - 2), out, 4, 2, 1)]
    return nn.Sequential(*layers)


class Up(nn.Module):
    # nn.Upsample(scale_factor=2, mode='bilinear') of the pre-1.0 PyTorch the authors used
    # behaved as align_corners=True; the flag makes the convention explicit.
    def __init__(self, align_corners):
        super().__init__()
        self.align_corners = align_corners

    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=self.align_corners)


def decoder_layers(depth, width, c_in, c_out, align):
    """generate_decoder_layers: [relu, up, conv, bn] x (depth-1), relu, up, conv, tanh."""
    ch = lambda k: width * 2 ** min(depth - 2 - k, 3)
    layers, c = [], c_in
    for k in range(depth - 1):
        layers += [nn.ReLU(), Up(align), nn.Conv2d(c, ch(k), 3, 1, 1), nn.BatchNorm2d(ch(k))]
        c = ch(k)
    layers += [nn.ReLU(), Up(align), nn.Conv2d(c, c_out, 3, 1, 1), nn.Tanh()]
    return nn.Sequential(*layers)


class FabNet(nn.Module):
    """FrontaliseModelMasks_wider(3, inner_nc=embedding, num_additional_ids=width)."""

    def __init__(self, size, width, embedding, align):
        super().__init__()
        depth = int(np.log2(size))
        self.encoder = encoder_layers(depth, width, embedding)
        self.decoder = decoder_layers(depth, width, 2 * embedding, 2, align)
        self.mask = decoder_layers(depth, width, 2 * embedding, 1, align)


def paper_reference_shapes():
    """Keys and shapes of the verbatim FrontaliseModelMasks_wider(3, 256, num_additional_ids=32)."""
    w, out = 32, 256
    enc = [(0, (w, 3, 4, 4))] + [(2, (2 * w, w, 4, 4)), (3, (2 * w,)), (5, (4 * w, 2 * w, 4, 4)), (6, (4 * w,)),
                                  (8, (8 * w, 4 * w, 4, 4)), (9, (8 * w,)), (11, (8 * w, 8 * w, 4, 4)), (12, (8 * w,)),
                                  (14, (8 * w, 8 * w, 4, 4)), (15, (8 * w,)), (17, (8 * w, 8 * w, 4, 4)), (18, (8 * w,)),
                                  (20, (out, 8 * w, 4, 4))]
    dec = lambda c_out: [(2, (8 * w, 2 * out, 3, 3)), (3, (8 * w,)), (6, (8 * w, 8 * w, 3, 3)), (7, (8 * w,)),
                         (10, (8 * w, 8 * w, 3, 3)), (11, (8 * w,)), (14, (8 * w, 8 * w, 3, 3)), (15, (8 * w,)),
                         (18, (4 * w, 8 * w, 3, 3)), (19, (4 * w,)), (22, (2 * w, 4 * w, 3, 3)), (23, (2 * w,)),
                         (26, (w, 2 * w, 3, 3)), (27, (w,)), (30, (c_out, w, 3, 3))]
    shapes = {}
    for name, layers in [('encoder', enc), ('decoder', dec(2)), ('mask', dec(1))]:
        for idx, shape in layers:
            shapes[f'{name}.{idx}.weight'] = shape
    return shapes


def check_against_paper_layout():
    model = FabNet(256, 32, 256, True)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.endswith('.weight')}
    assert ours == paper_reference_shapes(), 'generic builder drifted from the published layer list'


def randomise(model, head, size, gen):
    """Random weights plus running statistics from a few train-mode passes."""
    with torch.no_grad():
        for m in list(model.modules()) + list(head.modules()):
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
    model.train(); head.train()
    with torch.no_grad():
        for _ in range(3):
            a = torch.rand(4, 3, size, size, generator=gen)
            b = torch.rand(4, 3, size, size, generator=gen)
            ea, eb = model.encoder(a), model.encoder(b)
            pair = torch.cat((eb, ea), 1)
            model.decoder(pair); model.mask(pair)
            head(ea.view(4, -1))
    model.eval(); head.eval()


def images(batch, size, gen):
    """Smooth random images (quantised to 8 bits, as decoded frames are)."""
    low = torch.rand(batch, 3, 4, 4, generator=gen)
    x = F.interpolate(low, size=(size, size), mode='bicubic', align_corners=False)
    x = x + 0.05 * torch.rand(batch, 3, size, size, generator=gen)
    return (x.clamp(0, 1) * 255).round() / 255


def multiview(model, target, sources, align):
    """multiview_maskfaceloss of train_attention_curriculum.py."""
    xc = model.encoder(target)
    xcs = [model.encoder(s) for s in sources]
    size = target.size(2)
    if align:
        lin = np.linspace(-1, 1, size)
    else:
        lin = (2 * np.arange(size) + 1) / size - 1
    xs = torch.tensor(np.stack(np.meshgrid(lin, lin), 2), dtype=torch.float32, device=target.device).unsqueeze(0).repeat(target.size(0), 1, 1, 1)
    flows, masks, warped = [], [], []
    for s, e in zip(sources, xcs):
        pair = torch.cat((e, xc), 1)
        mask = model.mask(pair)
        flow = model.decoder(pair)
        grid = (flow.permute(0, 2, 3, 1) + xs).clamp(min=-1, max=1)
        warped.append(F.grid_sample(s.detach(), grid, align_corners=align))
        flows.append(flow); masks.append(mask)
    att = torch.stack(masks, 4)
    fused = (torch.stack(warped, 4) * att.exp()).sum(dim=4) / att.exp().sum(dim=4)
    weights = [m.exp() / att.exp().sum(dim=4) for m in masks]
    return xc, xcs, fused, flows, masks, weights, warped


def forward_fixture(name, size, width, embedding, classes, align, batch, views, seed, legacy):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = FabNet(size, width, embedding, align)
    head = nn.Sequential(nn.BatchNorm1d(embedding), nn.Linear(embedding, classes, bias=False))
    randomise(model, head, size, gen)
    target = images(batch, size, gen)
    sources = [images(batch, size, gen) for _ in range(views)]
    with torch.no_grad():
        xc, xcs, fused, flows, masks, weights, warped = multiview(model, target, sources, align)
        head_out = head(xc.view(batch, -1))
    torch.save({'state_dict_model': model.state_dict(), 'state_dict': head.state_dict()},
               os.path.join(HERE, f'{name}.pth'), _use_new_zipfile_serialization=not legacy)
    out = {'target': target, 'embedding': xc.view(batch, -1), 'fused': fused, 'head': head_out}
    for v in range(views):
        out[f'source{v}'] = sources[v]
        out[f'source_embedding{v}'] = xcs[v].view(batch, -1)
        out[f'flow{v}'] = flows[v]
        out[f'mask{v}'] = masks[v]
        out[f'weight{v}'] = weights[v]
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, f'{name}.safetensors'),
              metadata={'size': str(size), 'align_corners': str(align), 'views': str(views)})


def gradient_fixture(name, size, width, embedding, batch, views, window, seed):
    """Train-mode (batch statistics) gradients of the windowed L1 loss, as the reference's train()."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = FabNet(size, width, embedding, True)
    head = nn.Sequential(nn.BatchNorm1d(embedding), nn.Linear(embedding, 3, bias=False))
    randomise(model, head, size, gen)
    # Keep the output tanh out of saturation: there, 1 - tanh(x)^2 is rounding noise in f32 and
    # differs between any two tanh implementations, which says nothing about the maths.
    with torch.no_grad():
        for dec in (model.decoder, model.mask):
            dec[-2].weight.mul_(0.1)
            dec[-2].bias.mul_(0.1)
    model.train()
    target = images(batch, size, gen)
    sources = [images(batch, size, gen) for _ in range(views)]
    torch.save({'state_dict_model': model.state_dict()}, os.path.join(HERE, f'{name}.pth'))
    _, _, fused, _, _, _, _ = multiview(model, target, sources, True)
    # The train-mode forward folds the (unbiased) batch variance into the running statistics.
    running = {f'running.{k}': v.clone() for k, v in model.state_dict().items() if 'running_' in k}
    per_sample = (fused - target).abs().view(batch, -1).mean(dim=1)
    lo, hi = int(window[0] * batch), int(window[1] * batch)
    loss = per_sample.sort()[0][lo:hi].mean()
    model.zero_grad()
    loss.backward()
    out = {'target': target, 'losses': per_sample.detach(), 'loss': loss.detach().view(1), **running}
    for v in range(views):
        out[f'source{v}'] = sources[v]
    for k, p in model.named_parameters():
        out['grad.' + k] = p.grad.clone()
    # Two steps of the paper's optimizer (SGD, momentum 0.9; lr raised to make the moves visible):
    # the second one exercises the momentum buffer.
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.step()
    opt.zero_grad()
    _, _, fused, _, _, _, _ = multiview(model, target, sources, True)
    per_sample = (fused - target).abs().view(batch, -1).mean(dim=1)
    per_sample.sort()[0][lo:hi].mean().backward()
    opt.step()
    for k, p in model.named_parameters():
        out['after_sgd.' + k] = p.detach().clone()
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, f'{name}.safetensors'),
              metadata={'window': f'{window[0]},{window[1]}'})


def bad_fixtures():
    """Checkpoints that must be refused with a clear message."""
    model = FabNet(32, 4, 16, True)
    state = model.state_dict()
    state['decoder.6.weight'] = torch.zeros(3, 3, 3, 3)
    torch.save({'state_dict_model': state}, os.path.join(HERE, 'bad_wrong_shapes.pth'))
    other = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Linear(8, 2))
    torch.save({'state_dict': other.state_dict()}, os.path.join(HERE, 'bad_not_fabnet.pth'))


if __name__ == '__main__':
    check_against_paper_layout()
    torch.set_num_threads(2)
    # Paper depth (256 px, 8 convs each way) at a narrow width, in the legacy (pre-1.6) format
    # of the released files.
    forward_fixture('paper_depth', 256, 4, 16, 10, True, 1, 2, seed=1, legacy=True)
    # A small network under both resampling conventions, zip format.
    forward_fixture('small_aligned', 64, 8, 32, 136, True, 3, 3, seed=2, legacy=False)
    forward_fixture('small_unaligned', 64, 8, 32, 3, False, 3, 3, seed=3, legacy=False)
    gradient_fixture('tiny_gradients', 32, 4, 16, 4, 2, (0.0, 0.5), seed=4)
    bad_fixtures()
    print('fixtures written to', HERE)
