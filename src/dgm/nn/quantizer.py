"""Vector quantisation of a feature map against a codebook (van den Oord et al. 2017, VQ-VAE), with the
exponential-moving-average codebook of their appendix A.1, dead-code restarts from recent encoder outputs
(Dhariwal et al. 2020, Jukebox) and an optional k-means initialisation from the first batch.

Every quantiser returns the same triple ``(quantized, indices, loss)``: the quantized map with the
straight-through gradient (the decoder's gradient passes to the encoder unchanged), the code of every
position, and the loss the trainer adds (the commitment term, plus the codebook term when the codebook learns
by gradient rather than by EMA).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (squared Euclidean) of every row: z (N, D), codebook (K, D) -> (N,) long."""
    # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; ||z||^2 is the same for every code of a row
    d = codebook.pow(2).sum(1)[None, :] - 2 * z @ codebook.t()
    return d.argmin(1)


def perplexity(counts: torch.Tensor) -> float:
    """exp(entropy) of a histogram of codes (K,): K when every code is used equally, 1 for a single code."""
    p = counts.double() / counts.sum().clamp(min=1)
    return float(torch.exp(-(p * p.clamp(min=1e-300).log()).sum()))


def kmeans_plus_plus(z: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): k rows of z (N, D), each next one drawn with probability
    proportional to its squared distance to the nearest row already drawn -> (k, D). With N < k, rows repeat."""
    first = int(torch.randint(len(z), (1,), generator=generator))
    centres = [z[first]]
    d2 = (z - z[first]).pow(2).sum(1)
    for _ in range(k - 1):
        weights = d2.double().cpu()
        if float(weights.sum()) <= 0:  # every row is a centre already (N < k, or duplicates): draw uniformly
            weights = torch.ones_like(weights)
        pick = int(torch.multinomial(weights, 1, generator=generator))
        centres.append(z[pick])
        d2 = torch.minimum(d2, (z - z[pick]).pow(2).sum(1))
    return torch.stack(centres)


def kmeans(z: torch.Tensor, k: int, iters: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lloyd's k-means of the rows of z (N, D) -> (k, D) centres, seeded by k-means++; a centre that loses all
    its rows keeps its place."""
    centres = kmeans_plus_plus(z, k, generator).clone()
    for _ in range(iters):
        onehot = nn.functional.one_hot(nearest_codes(z, centres), k).to(z.dtype)  # (N, k)
        counts = onehot.sum(0)
        sums = onehot.t() @ z
        keep = counts > 0
        centres[keep] = sums[keep] / counts[keep, None]
    return centres


class VectorQuantizer(nn.Module):
    """z (B, D, ...) -> (quantized (B, D, ...), indices (B, ...) long in [0, K), loss ()).

    ``ema=True`` (the default, decay 0.99): the codebook is a buffer moved towards the mean of the encoder
    outputs assigned to each code, with Laplace-smoothed counts (``eps``), and the loss is the commitment term
    beta ||z - sg(e)||^2 alone; ``ema=False``: the codebook is a parameter and the loss adds the codebook term
    ||sg(z) - e||^2. Both squared errors are means over elements, as in the paper's code.
    ``restart_every`` > 0: every that many training calls, each code used fewer than ``restart_below`` times
    since the last check is replaced by a random one of the ``memory`` most recent encoder outputs.
    ``kmeans_init``: the first training call sets the codebook by k-means of its encoder outputs.
    Usage statistics of the last training call are in ``last_stats`` (perplexity, fraction of codes used since
    the last restart check) for the trainer's log.
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, ema: bool = True, decay: float = 0.99,
                 eps: float = 1e-5, restart_every: int = 0, restart_below: float = 1.0, memory: int = 4096,
                 kmeans_init: bool = False):
        super().__init__()
        if num_codes < 1 or dim < 1:
            raise ValueError(f"VectorQuantizer needs num_codes >= 1 and dim >= 1, got {num_codes} and {dim}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.num_codes, self.dim, self.beta = num_codes, dim, beta
        self.ema, self.decay, self.eps = ema, decay, eps
        self.restart_every, self.restart_below, self.kmeans_init = restart_every, restart_below, kmeans_init
        codebook = torch.empty(num_codes, dim).uniform_(-1.0 / num_codes, 1.0 / num_codes)
        if ema:
            self.register_buffer("codebook", codebook)
            self.register_buffer("cluster_size", torch.zeros(num_codes))
            self.register_buffer("embed_sum", torch.zeros(num_codes, dim))
        else:
            self.codebook = nn.Parameter(codebook)
        # since the last restart check: how often each code was chosen; and a ring of recent encoder outputs
        self.register_buffer("usage", torch.zeros(num_codes))
        self.register_buffer("memory", torch.zeros(memory if restart_every > 0 else 0, dim))
        self.register_buffer("memory_filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.last_stats: dict[str, float] = {}

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        flat = z.movedim(1, -1).reshape(-1, self.dim)  # (N, D), N = B * positions
        if self.training and not bool(self.initialized):
            self._kmeans_init(flat.detach())
        indices = nearest_codes(flat.detach(), self.codebook.detach())
        e = self.codebook[indices].view(*z.shape[:1], *z.shape[2:], self.dim).movedim(-1, 1)  # (B, D, ...)
        loss = self.beta * (z - e.detach()).pow(2).mean()
        if not self.ema:
            loss = loss + (z.detach() - e).pow(2).mean()
        if self.training:
            self._update(flat.detach(), indices)
        quantized = z + (e - z).detach()  # straight through: forward e, gradient identity to z
        return quantized, indices.view(z.shape[0], *z.shape[2:]), loss

    @torch.no_grad()
    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes of indices (B, ...) long -> (B, D, ...)."""
        return self.codebook[indices].movedim(-1, 1)

    @torch.no_grad()
    def _kmeans_init(self, flat: torch.Tensor) -> None:
        flat = _gather(flat)
        self.codebook.data.copy_(kmeans(flat, self.num_codes).to(self.codebook.dtype))
        if dist.is_available() and dist.is_initialized():  # processes may hold different random states
            dist.broadcast(self.codebook.data, 0)
        if self.ema:
            self.cluster_size.fill_(1.0)
            self.embed_sum.copy_(self.codebook)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        onehot = nn.functional.one_hot(indices, self.num_codes).to(flat.dtype)  # (N, K)
        counts, sums = onehot.sum(0), onehot.t() @ flat  # (K,), (K, D)
        if dist.is_available() and dist.is_initialized():  # every process sees the same codebook
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        if self.ema:
            self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
            self.codebook.copy_(self.embed_sum / smoothed[:, None])
        self.usage.add_(counts)
        self.last_stats = {"perplexity": perplexity(counts), "codes_used": float((self.usage > 0).float().mean())}
        self.calls.add_(1)
        if self.restart_every > 0:
            self._remember(_gather(flat))
            if int(self.calls) % self.restart_every == 0:
                self.restart_dead()

    def _remember(self, flat: torch.Tensor) -> None:
        size = len(self.memory)
        flat = flat[-size:]
        start = int(self.memory_filled) % size
        positions = (torch.arange(len(flat), device=flat.device) + start) % size
        self.memory[positions] = flat.to(self.memory.dtype)
        self.memory_filled.add_(len(flat))

    @torch.no_grad()
    def restart_dead(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Replace every code used fewer than ``restart_below`` times since the last check by a random recent
        encoder output, reset the usage counts; -> the replaced codes' indices (long)."""
        dead = (self.usage < self.restart_below).nonzero().flatten()
        filled = min(int(self.memory_filled), len(self.memory))
        if len(dead) and filled:
            pick = torch.randint(filled, (len(dead),), generator=generator).to(self.memory.device)
            if dist.is_available() and dist.is_initialized():
                dist.broadcast(pick, 0)
            new = self.memory[pick].to(self.codebook.dtype)
            self.codebook.data[dead] = new
            if self.ema:  # the new code starts as if one output had been assigned to it
                self.cluster_size[dead] = 1.0
                self.embed_sum[dead] = new
        self.usage.zero_()
        return dead if filled else dead[:0]


def _gather(flat: torch.Tensor) -> torch.Tensor:
    """All processes' rows (N, D) -> (world * N, D) under torch.distributed (same N everywhere), else flat."""
    if not (dist.is_available() and dist.is_initialized()):
        return flat
    parts = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, flat.contiguous())
    return torch.cat(parts)
