"""Denoising diffusion models (Ho et al. 2020; Nichol & Dhariwal 2021): a UNet that owns every weight, a
parameter-free noise schedule, and samplers apart from both. The loss is the simple one (MSE to the prediction
target), the hybrid one (simple + lambda L_vlb, the VLB term seeing the mean only through a stop-gradient) or
the VLB alone; ``elbo`` is the full bound of the discrete data in nats (every step evaluated, or an unbiased
stratified estimate from fewer)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ...config import positive
from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ...nn.unet import UNet
from ..base import Batch, GenerativeModel
from .guidance import Classifier, classifier_guided
from .parameterization import target
from .reverse import output_channels, reverse_step
from .samplers import SAMPLERS, ddim_sample, ddpm_sample, dpm_solver_2m_sample
from .schedule import NoiseSchedule
from .vlb import prior_kl, vlb_term


@dataclass(frozen=True)
class DiffusionConfig:
    schedule: Literal["linear", "cosine"] = "linear"
    steps: int = 1000  # T, the training diffusion's steps
    prediction: Literal["epsilon", "x0", "v"] = "epsilon"
    variance: Literal["fixed-small", "fixed-large", "learned-range"] = "fixed-large"
    loss: Literal["simple", "hybrid", "vlb"] = "simple"
    vlb_weight: float = 0.001  # lambda of the hybrid loss (on L_vlb in bits per dimension, as improved DDPM)
    channels: int = 64  # UNet base width
    channel_mult: tuple[int, ...] = (1, 2, 2)  # widths per resolution: 28 -> 14 -> 7
    blocks: int = 2  # residual blocks per resolution
    attention_levels: tuple[int, ...] = (2,)  # resolutions (0 = full) with self-attention
    heads: int = 4
    dropout: float = 0.1
    conditional: bool = False  # a label embedding (with a null label) for classifier-free guidance
    label_dropout: float = 0.1  # conditional: the fraction of training examples given the null label
    clip_x0: bool = True  # clamp x0-hat to [-1, 1] while sampling
    sampler: Literal["ddpm", "ddim", "dpm-solver++"] = "ddim"  # sample()'s default
    sample_steps: int = 50  # sample()'s default number of steps (respaced)
    # periodic validation (train.eval_every[_s]): FID of samples, or the bound on the validation images, in full
    # (bound_terms 0: T passes per image) or estimated from bound_terms strata (elbo's ``terms``)
    validate_by: Literal["samples", "bound"] = "samples"
    bound_terms: int = 0

    def __post_init__(self):
        check_network(self)
        positive("sample_steps", self.sample_steps)
        positive("bound_terms", self.bound_terms, allow_zero=True)
        positive("vlb_weight", self.vlb_weight, allow_zero=True)
        if not 0 <= self.label_dropout < 1:
            raise ConfigError("label_dropout must be in [0, 1)")
        if self.sample_steps > self.steps:
            raise ConfigError(f"sample_steps ({self.sample_steps}) cannot exceed the diffusion's steps ({self.steps})")
        if self.loss == "hybrid" and self.variance != "learned-range":
            raise ConfigError("the hybrid loss trains the learned variance: set model.variance=learned-range")


def check_network(cfg) -> None:
    """ConfigError for a config's bad diffusion steps or UNet sizes (steps, channels, blocks, heads, dropout,
    attention_levels): the checks the diffusion model and its guidance classifier share."""
    for name in ("steps", "channels", "blocks", "heads"):
        positive(name, getattr(cfg, name))
    if not 0 <= cfg.dropout < 1:
        raise ConfigError("dropout must be in [0, 1)")
    if any(not 0 <= lv < len(cfg.channel_mult) for lv in cfg.attention_levels):
        raise ConfigError(f"attention_levels must be in 0..{len(cfg.channel_mult) - 1}")


class Diffusion(GenerativeModel):
    """x in [-1, 1] (C, H, W) -> a UNet trained to predict epsilon, x0 or v at a uniformly drawn step."""

    Config = DiffusionConfig
    input_transform = "symmetric"
    log_prob_kind = "bound"
    importance_weighted = False  # elbo(x, k) takes only k=1
    costly_bound = True  # the full bound costs T network passes per image
    # the UNet's activations at 500 images outgrow the CPU caches: DDIM steps of the 30-minute MNIST UNet ran at
    # 97 images/s per step in batches of 500 against 150 in batches of 64 (2 threads, AVX2 EPYC)
    sample_batch = 64
    default_train = {"lr": 2e-4, "batch_size": 128, "steps": 100_000, "ema_decay": 0.9999, "lr_warmup": 5000,
                     "grad_clip": 1.0}
    tiny = {"steps": 20, "sample_steps": 5, "channels": 8, "channel_mult": (1, 2), "blocks": 1,
            "attention_levels": (1,), "heads": 2}

    def __init__(self, config: DiffusionConfig, info: DatasetInfo):
        super().__init__(config, info)
        if info.kind == "points" or len(info.shape) != 3:
            raise ConfigError(f"diffusion models here take images (C, H, W); {info.name} has shape {info.shape}")
        if config.conditional and info.num_classes < 2:
            raise ConfigError(f"a conditional diffusion needs labelled data; {info.name} has no classes")
        self.shape = tuple(info.shape)
        self.dims = math.prod(self.shape)
        self.levels = 2 if info.kind == "binary" else 256  # values of the discrete data in [-1, 1]
        self.num_classes = info.num_classes if config.conditional else 0
        self.schedule = NoiseSchedule.named(config.schedule, config.steps)
        self.net = UNet(self.shape[0], output_channels(self.shape[0], config.variance), config.channels,
                        tuple(config.channel_mult), config.blocks, tuple(config.attention_levels), config.heads,
                        config.dropout, self.num_classes or None)

    @property
    def validate_by(self) -> str:
        """Periodic validation's metric: FID of samples (the default), or the bound (config.validate_by)."""
        return "samples" if self.config.validate_by == "samples" else "auto"

    @property
    def validation_bound_options(self) -> dict:
        """``elbo``'s options for periodic validation by the bound: a stratified estimate when bound_terms > 0."""
        return {"terms": self.config.bound_terms} if self.config.bound_terms else {}

    def predict(self, xt: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The network's output at x_t (B, C, H, W), network time t (B,) long; labels None = the null label."""
        return self.net(xt, t.to(xt.device), labels)

    def terms(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, labels: torch.Tensor | None,
              vlb: bool = False) -> dict[str, torch.Tensor]:
        """Per-example simple loss (mean over dimensions) and, with ``vlb``, L_t in nats at indices t; (B,) each.
        Under the hybrid loss L_t sees the predicted mean through a stop-gradient (it trains the variance)."""
        cfg, sched = self.config, self.schedule
        xt = sched.q_sample(x0, t, noise)
        out = self.predict(xt, t, labels)
        mean_out = out[:, :self.shape[0]]
        a = sched.gather(sched.sqrt_alphas_cumprod, t, x0)
        s = sched.gather(sched.sqrt_one_minus_alphas_cumprod, t, x0)
        terms = {"simple": (mean_out - target(cfg.prediction, x0, noise, a, s)).pow(2).flatten(1).mean(1)}
        if vlb:
            frozen = torch.cat([mean_out.detach(), out[:, self.shape[0]:]], 1) if cfg.loss == "hybrid" else out
            step = reverse_step(sched, frozen.float(), xt.float(), t, cfg.prediction, cfg.variance)
            terms["vlb_t"] = vlb_term(sched, step, x0.float(), xt.float(), t, self.levels)
        return terms

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        x0, cfg = batch.x, self.config
        t = torch.randint(0, cfg.steps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        labels = None
        if self.num_classes:
            labels = batch.y.clone()
            labels[torch.rand(len(x0), device=x0.device) < cfg.label_dropout] = self.num_classes  # the null label
        terms = self.terms(x0, t, noise, labels, vlb=cfg.loss != "simple")
        out = {"mse": terms["simple"].mean()}
        if cfg.loss == "simple":
            out["loss"] = out["mse"]
            return out
        # L_vlb = T E_t[L_t] in bits per dimension (improved DDPM's scale for lambda)
        vlb_bpd = cfg.steps * terms["vlb_t"].mean() / (self.dims * math.log(2))
        out["vlb_bpd"] = vlb_bpd.detach()
        out["loss"] = vlb_bpd if cfg.loss == "vlb" else out["mse"] + cfg.vlb_weight * vlb_bpd
        return out

    @torch.no_grad()
    def elbo(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None,
             terms: int | None = None) -> torch.Tensor:
        """The variational lower bound on log P(x) of the discrete data, nats, (B,): minus the prior term and
        every step's L_t (T network passes; one noise draw per step, from ``generator`` on the CPU). ``terms``
        K < T - 1: an unbiased stratified estimate in K + 1 passes: L_0 (the decoder) exactly, the other T - 1
        steps cut into K strata of about equal size, one step drawn uniformly per stratum and example, its L_t
        weighted by the stratum's size. k > 1 is not defined for diffusion."""
        if k != 1:
            raise ConfigError("a diffusion model's bound has no importance-weighted form: use k=1")
        steps = self.config.steps
        if terms is not None and terms < 1:
            raise ConfigError(f"the bound's terms must be >= 1 (or all of them), got {terms}")

        def term(t: torch.Tensor) -> torch.Tensor:
            noise = torch.randn(x.shape, generator=generator).to(x)
            return self.terms(x, t.to(x.device), noise, None, vlb=True)["vlb_t"]

        total = prior_kl(self.schedule, x.double()).float()
        if terms is None or terms >= steps - 1:
            for t_i in range(steps):
                total = total + term(torch.full((len(x),), t_i))
            return -total
        total = total + term(torch.zeros(len(x), dtype=torch.long))
        edges = [1 + round(i * (steps - 1) / terms) for i in range(terms + 1)]
        for lo, hi in zip(edges[:-1], edges[1:]):
            t = lo + (torch.rand(len(x), generator=generator) * (hi - lo)).long().clamp(max=hi - lo - 1)
            total = total + (hi - lo) * term(t)
        return -total

    def bound_semantics(self, options: dict) -> str:
        """How ``elbo(**options)`` evaluates the bound (every likelihood record says it)."""
        steps, terms = self.config.steps, options.get("terms")
        if terms is None or terms >= steps - 1:
            return f"every one of the {steps} terms"
        return f"stratified estimate: L_0 and {terms} strata of the other {steps - 1} terms"

    def guided(self, labels: torch.Tensor | None, guidance: float, variance: bool):
        """predict(x_t, t) for the samplers. A conditional model's mean channels under classifier-free guidance
        of scale s: out(x, null) + s (out(x, y) - out(x, null)) (Ho & Salimans 2022), so s = 0 is the
        unconditional model, s = 1 the conditional one, s > 1 guided; with ``variance`` the conditional
        learned-variance channels follow (as GLIDE)."""
        if guidance != 1 and not self.num_classes:
            raise ConfigError("classifier-free guidance needs a conditional model (model.conditional=true)")
        c = self.shape[0]

        def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            out = self.predict(x, t, None if guidance == 0 else labels).float()
            mean = out[:, :c]
            if guidance not in (0, 1):
                uncond = self.predict(x, t, None)[:, :c].float()
                mean = uncond + guidance * (mean - uncond)
            return torch.cat([mean, out[:, c:]], 1) if variance else mean
        return predict

    def sample_semantics(self, options: dict) -> str:
        """'draws (SAMPLER, N steps[, eta E][, guidance S])': every sample-quality record says how it sampled."""
        cfg = self.config
        sampler = options.get("sampler") or cfg.sampler
        steps = options.get("steps") or (cfg.steps if sampler == "ddpm" else cfg.sample_steps)
        parts = [sampler, f"{steps} steps"]
        if sampler == "ddim" and options.get("eta"):
            parts.append(f"eta {options['eta']:g}")
        if self.num_classes and "guidance" in options:
            parts.append(f"guidance {options['guidance']:g}")
        if options.get("classifier") is not None:
            parts.append(f"classifier guidance {options.get('classifier_scale', 1.0):g}")
        return f"draws ({', '.join(parts)})"

    @torch.no_grad()
    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               sampler: str | None = None, steps: int | None = None, eta: float = 0.0, guidance: float = 1.0,
               classifier: Classifier | None = None, classifier_scale: float = 1.0) -> torch.Tensor:
        """n images (n, C, H, W) in [0, 1] by ``sampler`` (ddpm, ddim, dpm-solver++; default the config's) over
        ``steps`` respaced steps; ``eta`` for DDIM; ``guidance`` s >= 0, the classifier-free guidance scale of a
        conditional model (0 unconditional, 1 conditional, > 1 guided); ``classifier`` (a noise-aware classifier
        of this schedule, ``dgm.runs.load_classifier``) guides towards ``labels`` with ``classifier_scale``; ``labels``
        (n,) or drawn at random (a conditional model's or the classifier's classes)."""
        return self._draw(n, labels, generator, sampler, steps, eta, guidance, classifier, classifier_scale)

    @torch.no_grad()
    def trajectory(self, n: int, frames: int = 8, *, labels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, sampler: str | None = None, steps: int | None = None,
                   eta: float = 0.0, guidance: float = 1.0, classifier: Classifier | None = None,
                   classifier_scale: float = 1.0) -> tuple[torch.Tensor, list[int]]:
        """x_t along one sampling run (options as ``sample``'s): (frames, n, C, H, W) in [0, 1] (x_t mapped from
        [-1, 1], clamped) at ``frames`` steps evenly spread from the first (pure noise) to the final sample, and
        the diffusion step t of each (counted from 1 as Ho et al.; 0 for the final sample)."""
        if frames < 2:
            raise ConfigError(f"a trajectory needs at least 2 frames (noise and sample), got {frames}")
        sampler, steps = self._resolve(sampler, steps)
        states: list[tuple[int, torch.Tensor]] = []
        final = self._draw(n, labels, generator, sampler, steps, eta, guidance, classifier, classifier_scale,
                           on_step=lambda i, x: states.append((i, x.float().cpu())))
        picks = sorted({round(k * (len(states) - 1) / max(frames - 2, 1)) for k in range(frames - 1)})
        timesteps = self.schedule.spaced(steps).timesteps
        images = [((states[k][1] + 1) / 2).clamp(0, 1) for k in picks] + [final.cpu()]
        return torch.stack(images), [int(timesteps[states[k][0]]) + 1 for k in picks] + [0]

    def _resolve(self, sampler: str | None, steps: int | None) -> tuple[str, int]:
        """(sampler, steps) with the config's defaults filled in; ConfigError for an unknown sampler."""
        sampler = sampler or self.config.sampler
        if sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
        if steps is None:  # ancestral sampling runs every step unless asked for fewer (improved DDPM's respacing)
            steps = self.config.steps if sampler == "ddpm" else self.config.sample_steps
        return sampler, steps

    def _draw(self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, sampler: str | None,
              steps: int | None, eta: float, guidance: float, classifier: Classifier | None = None,
              classifier_scale: float = 1.0, on_step=None) -> torch.Tensor:
        """``sample``'s work; ``on_step(i, x_t)`` sees the state before each step."""
        cfg = self.config
        sampler, steps = self._resolve(sampler, steps)
        if guidance < 0:
            raise ConfigError(f"guidance must be >= 0, got {guidance}")
        schedule = self.schedule.spaced(steps)
        classes = self.num_classes or getattr(classifier, "num_labels", 0)
        if labels is not None:
            labels = labels.to(self.device)
        elif classes:
            labels = torch.randint(0, classes, (n,), generator=generator).to(self.device)
        ddpm = sampler == "ddpm"
        predict = self.guided(labels, guidance, variance=ddpm and cfg.variance == "learned-range")
        if classifier is not None:
            if classifier_scale < 0:
                raise ConfigError(f"classifier_scale must be >= 0, got {classifier_scale}")
            if labels is None:
                raise ConfigError("classifier guidance needs the labels to guide towards")
            predict = classifier_guided(predict, classifier, labels, classifier_scale, self.schedule,
                                        cfg.prediction, self.shape[0])
        common = dict(prediction=cfg.prediction, clip_x0=cfg.clip_x0, generator=generator, device=self.device,
                      on_step=on_step)
        shape = (n, *self.shape)
        if ddpm:
            x = ddpm_sample(predict, schedule, shape, variance=cfg.variance, **common)
        elif sampler == "ddim":
            x = ddim_sample(predict, schedule, shape, eta=eta, **common)
        else:
            x = dpm_solver_2m_sample(predict, schedule, shape, **common)
        return ((x.float() + 1) / 2).clamp(0, 1)
