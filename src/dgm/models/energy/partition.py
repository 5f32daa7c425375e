"""The partition function of a binary RBM, E(v, h) = -b.v - c.h - v'Wh: exactly by enumerating the smaller
layer, or by annealed importance sampling (Salakhutdinov and Murray 2008) from a base-rate RBM.

AIS anneals p_beta(v) ~ f_beta(v) = exp((1 - beta) b_A.v + beta b.v) prod_j (1 + exp(beta (c_j + v'W_j))) from
beta = 0 (independent visibles with the base rates' biases b_A; log Z_A = sum softplus(b_A) + H log 2) to
beta = 1 (the RBM); each run's log weight sums log f_beta_k(v) - log f_beta_{k-1}(v) along a chain of Gibbs
transitions that leave p_beta_k invariant, and log Z = log Z_A + log mean exp(log weights).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

MAX_ENUMERATED = 20  # units of the smaller layer summed out exactly (2^20 states)
# an AIS estimate whose weights' effective sample size is below this fraction of its runs is reported as
# unreliable: no interval, a warning naming the fix (more inverse temperatures or runs)
MIN_ESS_FRACTION = 0.1


def all_states(n: int, start: int, stop: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Binary states start..stop-1 of n units, as rows (stop - start, n), unit 0 the lowest bit."""
    idx = torch.arange(start, stop, device=device)
    return ((idx[:, None] >> torch.arange(n, device=device)) & 1).to(dtype)


def exact_log_partition(w: torch.Tensor, b: torch.Tensor, c: torch.Tensor, chunk: int = 1 << 16) -> float:
    """log Z of the RBM (W (D, H), visible biases b (D,), hidden biases c (H,)) by summing out the larger layer
    in closed form and enumerating the smaller one (at most ``MAX_ENUMERATED`` units), in float64."""
    w, b, c = w.detach().double(), b.detach().double(), c.detach().double()
    if w.shape[1] > w.shape[0]:  # enumerate the visibles: the roles of the layers swap
        w, b, c = w.T, c, b
    n = w.shape[1]
    if n > MAX_ENUMERATED:
        raise ValueError(f"exact log Z enumerates the smaller layer: {n} units > {MAX_ENUMERATED}")
    parts = []
    for start in range(0, 2 ** n, chunk):
        h = all_states(n, start, min(start + chunk, 2 ** n), device=w.device)
        parts.append(torch.logsumexp(h @ c + F.softplus(h @ w.T + b).sum(1), 0))
    return float(torch.logsumexp(torch.stack(parts), 0))


def paper_schedule(steps: int = 14_500) -> torch.Tensor:
    """Inverse temperatures 0 = beta_0 < ... < beta_steps = 1 (steps + 1 values, float64): Salakhutdinov and
    Murray's 500 uniform in [0, 0.5], 4,000 in [0.5, 0.9] and 10,000 in [0.9, 1], scaled to ``steps``."""
    if steps < 3:
        raise ValueError(f"AIS needs at least 3 annealing steps, got {steps}")
    n1 = max(1, round(steps * 500 / 14_500))
    n2 = max(1, round(steps * 4_000 / 14_500))
    n3 = steps - n1 - n2
    return torch.cat([torch.linspace(0, 0.5, n1 + 1, dtype=torch.float64)[:-1],
                      torch.linspace(0.5, 0.9, n2 + 1, dtype=torch.float64)[:-1],
                      torch.linspace(0.9, 1.0, n3 + 1, dtype=torch.float64)])


@dataclass
class AISEstimate:
    """log Z (log-mean-exp of the runs' weights plus the base log Z), its standard error by the delta method,
    and the log weights of the runs."""

    log_z: float
    stderr: float
    log_weights: torch.Tensor
    steps: int
    seconds: float = 0.0  # wall-clock time of the annealing runs

    @property
    def runs(self) -> int:
        return len(self.log_weights)

    @property
    def ess(self) -> float:
        """Effective sample size of the runs' weights, (sum w)^2 / sum w^2, in [1, runs]: near 1 when one run
        dominates, and then log Z is far below its value (AIS underestimates log Z in expectation) while the
        delta-method standard error (about 1 with one run dominating) means nothing."""
        lw = self.log_weights.double()
        return float(torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0)))

    @property
    def reliable(self) -> bool:
        """At least ``MIN_ESS_FRACTION`` of the runs effectively count."""
        return self.ess >= MIN_ESS_FRACTION * self.runs


class PartitionCache:
    """A model's (log Z, its standard error, the AIS estimate or None), kept until one of its parameters changes
    (storage or in-place version) or the estimator's settings do: evaluation asks for log Z once per batch."""

    def __init__(self):
        self._key: tuple | None = None
        self._value: tuple | None = None

    def get(self, params, settings: tuple, compute: Callable[[], tuple]) -> tuple:
        key = (tuple((p.data_ptr(), p._version) for p in params), settings)
        if self._key != key:
            self._value, self._key = compute(), key
        return self._value


def partition_fields(nll: float, log_z: float, stderr: float, est: AISEstimate | None) -> dict:
    """What an evaluation record adds to a mean NLL (nats) that depends on log Z: log Z and, for AIS, its
    standard error, the runs, the inverse temperatures, the seconds the estimate took and the weights' effective
    sample size; then the NLL's interval at +-3 standard errors of log Z (the spread over the test images is the
    record's stderr_nats, apart) when the estimate is reliable, a warning instead when it is not."""
    if est is None:
        return {"log_z": log_z}
    out = {"log_z": log_z, "log_z_stderr": stderr, "ais_runs": est.runs, "ais_steps": est.steps,
           "ais_seconds": round(est.seconds, 2), "ais_ess": round(est.ess, 2)}
    if est.reliable:
        out["nll_interval_nats"] = [nll - 3 * stderr, nll + 3 * stderr]
    else:
        out["ais_warning"] = (f"AIS unreliable: the effective sample size of its {est.runs} runs is {est.ess:.1f} "
                              f"(< {MIN_ESS_FRACTION:.0%} of them), so log Z is likely far too low and the NLL too "
                              "good; raise the inverse temperatures (dgm eval --ais-steps, or model.ais_steps) and "
                              "runs until log Z stops rising")
    return out


def base_rate_biases(mean_v: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Visible biases (D,) of the base-rate model from the data's pixel means (D,) in [0, 1], kept off 0 and 1."""
    p = mean_v.double().clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


@torch.no_grad()
def anneal(step: Callable[[torch.Tensor, float, float], tuple[torch.Tensor, torch.Tensor]], start: torch.Tensor,
           log_z_base: float, betas: torch.Tensor) -> AISEstimate:
    """Annealed importance sampling (Neal 2001) from ``start`` (runs, ...) drawn exactly from the base model
    (log partition ``log_z_base``) along ``betas`` (K + 1,) from 0 to 1: ``step(x, beta_prev, beta)`` returns
    each run's log f_beta(x) - log f_beta_prev(x) (float64) and x moved by a transition leaving p_beta invariant.
    log Z = log Z_base + log mean exp(log weights), with its standard error by the delta method."""
    if float(betas[0]) != 0.0 or float(betas[-1]) != 1.0:
        raise ValueError("AIS inverse temperatures must run from 0 to 1")
    began = time.perf_counter()
    x, log_w = start, torch.zeros(len(start), dtype=torch.float64, device=start.device)
    for k in range(1, len(betas)):
        increment, x = step(x, float(betas[k - 1]), float(betas[k]))
        log_w += increment
    runs = len(log_w)
    log_mean = torch.logsumexp(log_w, 0) - math.log(runs)
    ratio = torch.exp(log_w - log_w.max())  # the weights up to a common factor: their relative spread
    stderr = float(ratio.std() / (math.sqrt(runs) * ratio.mean())) if runs > 1 else float("nan")
    return AISEstimate(log_z_base + float(log_mean), stderr, log_w.cpu(), len(betas) - 1, time.perf_counter() - began)


def uniforms(generator: torch.Generator | None, device, dtype) -> Callable[[tuple[int, ...]], torch.Tensor]:
    """U[0, 1) draws of a shape on the CPU from ``generator``, moved to device and dtype."""
    return lambda shape: torch.rand(shape, generator=generator).to(device, dtype)


@torch.no_grad()
def ais_log_partition(w: torch.Tensor, b: torch.Tensor, c: torch.Tensor, base_b: torch.Tensor,
                      betas: torch.Tensor, runs: int = 100, generator: torch.Generator | None = None) -> AISEstimate:
    """AIS estimate of log Z of the RBM (W (D, H), b (D,), c (H,)) from the base-rate model with visible biases
    base_b (D,), along ``betas`` (K + 1,) from 0 to 1, with ``runs`` independent runs. Matrix products run in
    the weights' dtype, the log weights accumulate in float64; noise is drawn on the CPU from ``generator``."""
    dev, dt = w.device, w.dtype
    base_b = base_b.to(dev, dt)
    rand = uniforms(generator, dev, dt)

    def log_f(v, vw, beta):  # log f_beta(v) (runs,), given v'W (runs, H)
        return ((1 - beta) * (v @ base_b) + beta * (v @ b) + F.softplus(beta * (vw + c)).sum(1)).double()

    def step(v, beta_prev, beta):
        vw = v @ w
        increment = log_f(v, vw, beta) - log_f(v, vw, beta_prev)
        # one Gibbs sweep leaving p_beta invariant: h ~ p_beta(h | v), then v ~ p_beta(v | h)
        h = (rand(vw.shape) < torch.sigmoid(beta * (vw + c))).to(dt)
        v = (rand(v.shape) < torch.sigmoid((1 - beta) * base_b + beta * (h @ w.T + b))).to(dt)
        return increment, v

    v = (rand((runs, len(b))) < torch.sigmoid(base_b)).to(dt)
    log_z_base = float(F.softplus(base_b.double()).sum()) + len(c) * math.log(2)
    return anneal(step, v, log_z_base, betas)
