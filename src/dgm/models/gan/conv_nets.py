"""DCGAN networks (Radford et al. 2016): transposed-conv generator with batch norm (or virtual batch norm,
Salimans et al. 2016: ``networks.g_norm: virtual``) and ReLU, tanh output; strided-conv discriminator with
LeakyReLU(0.2), no norm on its first layer. Widths double per stage.
With ``fc_hidden`` both get the fully connected layer of the InfoGAN / AC-GAN MNIST nets (Chen et al. 2016,
appendix C.1: FC 1024 after G's input and before D's output), which models global shape cheaply."""
from __future__ import annotations

import torch
from torch import nn

from ...nn import SelfAttention2d
from ...nn.norms import VirtualBatchNorm, reference_pass
from .networks import NetSpec, architectures, concat_labels, d_norm, label_maps, stages

REFERENCE_BATCH, REFERENCE_SEED = 64, 1234  # virtual batch norm's reference inputs, fixed for a run


def g_norm(kind: str):
    """G's normalisation: (channels, flat) -> batch norm (1-d or 2-d) or virtual batch norm."""
    if kind == "virtual":
        return lambda c, flat: VirtualBatchNorm(c)
    return lambda c, flat: nn.BatchNorm1d(c) if flat else nn.BatchNorm2d(c)


class DCGANGenerator(nn.Module):
    """noise (B, Z) [+ labels] -> (B, C, H, W) in [-1, 1].

    Project and reshape to (channels * 2^(k-1), H/2^k, W/2^k), then k stride-2 4x4 transposed convs
    (28x28: 128x7x7 -> 64x14x14 -> 1x28x28 for channels = 64)."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        c_out, h, w = spec.shape
        k, self.h0, self.w0 = stages(h, w)
        widths = [spec.channels * 2 ** i for i in reversed(range(k))]
        self.k = spec.g_concat
        d_in, d_out = spec.noise_dim + self.k, widths[0] * self.h0 * self.w0
        norm = g_norm(spec.g_norm)
        self.project: nn.Module = nn.Linear(d_in, d_out, bias=False)
        if spec.fc_hidden:
            self.project = nn.Sequential(nn.Linear(d_in, spec.fc_hidden, bias=False), norm(spec.fc_hidden, True),
                                         nn.ReLU(), nn.Linear(spec.fc_hidden, d_out, bias=False))
        layers: list[nn.Module] = [norm(widths[0], False), nn.ReLU()]
        for i in range(k - 1):
            layers += [nn.ConvTranspose2d(widths[i], widths[i + 1], 4, 2, 1, bias=False),
                       norm(widths[i + 1], False), nn.ReLU()]
            if spec.attention and i == 0:
                layers.append(SelfAttention2d(widths[1]))
        layers += [nn.ConvTranspose2d(widths[-1], c_out, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.widths = widths
        self.virtual = spec.g_norm == "virtual"
        if self.virtual:  # VBN's fixed reference batch of G's inputs (a buffer: checkpointed with the weights)
            g = torch.Generator().manual_seed(REFERENCE_SEED)
            self.register_buffer("ref_noise", torch.randn(REFERENCE_BATCH, spec.noise_dim, generator=g))
            self.register_buffer("ref_labels", torch.arange(REFERENCE_BATCH) % max(spec.num_classes, 1))

    def _run(self, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = self.project(concat_labels(noise, labels, self.k))
        return self.net(h.view(-1, self.widths[0], self.h0, self.w0))

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.virtual:  # the reference batch first: every VBN layer takes its statistics from it
            with reference_pass(self):
                self._run(self.ref_noise.to(noise.dtype), self.ref_labels if self.k else None)
        return self._run(noise, labels)


class DCGANTrunk(nn.Module):
    """x (B, C, H, W) [+ label maps] -> features (B, channels * 2^(k-1) * H/2^k * W/2^k)."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        c, h, w = spec.shape
        k, h0, w0 = stages(h, w)
        widths = [spec.channels * 2 ** i for i in range(k)]
        self.k = spec.num_classes if spec.d_concat else 0
        layers: list[nn.Module] = [nn.Conv2d(c + self.k, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        if spec.attention:
            layers.append(SelfAttention2d(widths[0]))
        for i in range(1, k):
            layers += [nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=spec.d_norm == "none"),
                       d_norm(spec.d_norm, widths[i]), nn.LeakyReLU(0.2)]
        layers.append(nn.Flatten())
        self.out_features = widths[-1] * h0 * w0
        self.feature_shape: tuple[int, ...] = (widths[-1], h0, w0)  # before flattening (feature quantisation)
        if spec.fc_hidden:
            layers += [nn.Linear(self.out_features, spec.fc_hidden, bias=spec.d_norm == "none"),
                       d_norm(spec.d_norm, spec.fc_hidden, flat=True), nn.LeakyReLU(0.2)]
            self.out_features, self.feature_shape = spec.fc_hidden, (spec.fc_hidden,)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(label_maps(x, labels, self.k) if self.k else x)


@architectures.register("dcgan", help="DCGAN: transposed convs + BN + ReLU (G), strided convs + LeakyReLU (D)")
def build(spec: NetSpec) -> tuple[nn.Module, nn.Module]:
    return DCGANGenerator(spec), DCGANTrunk(spec)
