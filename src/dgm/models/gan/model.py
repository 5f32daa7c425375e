"""The one adversarial model: a generator and a discriminator composed with an objective, penalties,
regularisers, tricks and an update schedule, all chosen by config values (presets.py names the papers')."""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from ...data.dataset import DatasetInfo
from ...errors import ConfigError
from ...nn import ConditionalBatchNorm2d, spectral_normalize
from ..base import Batch, GenerativeModel, OptimizerGroup, trainable
from .config import GANConfig
from .critic import Critic, CriticOutput
from .latents import Latents, draw_latents
from .networks import NetSpec, build_networks, initialise
from .objectives import get_objective
from .penalties import clip_weights, gradient_penalty, zero_centred_penalty
from .regularisers import HistoricalAverage, feature_matching, matrix_weights, orthogonal_penalty
from .tricks import add_instance_noise, instance_noise_std, real_label
from .unrolled import unrolled_generator_loss


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Build graphs through ``module`` without gradients for its parameters (G's step needs none for D's)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class GAN(GenerativeModel):
    """Generator G(z, y) and discriminator D(x, y) trained adversarially by the shared trainer.

    Optimizer groups "discriminator" and "generator"; each trainer step (one batch) updates D, and G every
    ``n_critic``-th step. With ``unroll_steps`` > 0 the model optimises by hand (``training_step``), since the
    generator's loss looks through k unrolled discriminator updates (Metz et al. 2017).
    Images are modelled in [-1, 1] (``input_transform`` "symmetric"); 2-D points as they are.
    """

    Config = GANConfig
    default_train = {"lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "steps": 10_000}
    tiny = {"mlp_hidden": (16,), "channels": 8, "latent_dim": 8, "minibatch_kernels": 0}

    def __init__(self, config: GANConfig, info: DatasetInfo):
        super().__init__(config, info)
        cfg = config
        self.points = info.kind == "points"
        self.input_transform = "unit" if self.points else "symmetric"  # binary data: {-1, 1} (base prepare)
        self.num_classes = info.num_classes if cfg.conditional else 0
        if cfg.conditional and info.num_classes < 2:
            raise ConfigError(f"this GAN is class-conditional but {info.name} has no labels; pick an unconditional "
                              "model (e.g. dcgan) or labelled data")
        self.categories, self.continuous = cfg.info_categorical, cfg.info_continuous
        self.manual_optimization = cfg.unroll_steps > 0
        arch = "dcgan" if cfg.architecture == "auto" else cfg.architecture
        spec = NetSpec(tuple(info.shape), self.points, cfg.latent_dim + self.categories + self.continuous,
                       self.num_classes, cfg.g_conditioning, cfg.d_conditioning == "concat", tuple(cfg.mlp_hidden),
                       cfg.channels, cfg.d_norm, cfg.attention, cfg.fc_hidden,
                       tuple(cfg.mlp_hidden_d) if cfg.mlp_hidden_d is not None else None)
        self.generator, trunk = build_networks(arch, spec)
        self.critic = Critic(trunk, num_classes=self.num_classes, conditioning=cfg.d_conditioning,
                             categories=self.categories, continuous=self.continuous,
                             minibatch_std=cfg.minibatch_std, minibatch_kernels=cfg.minibatch_kernels)
        initialise(self.generator, cfg.init)
        initialise(self.critic, cfg.init)
        if cfg.spectral_norm != "none":
            spectral_normalize(self.critic)
        if cfg.spectral_norm == "both":
            spectral_normalize(self.generator, skip=(ConditionalBatchNorm2d,))
        self.objective = get_objective(cfg.objective)
        self.hist_d = HistoricalAverage(self.critic.parameters()) if cfg.hist_weight else None
        self.hist_g = HistoricalAverage(self.generator.parameters()) if cfg.hist_weight else None
        self._shared: tuple[Batch, Latents, torch.Tensor] | None = None  # D's fakes, kept for G's step

    # --- data and latents -------------------------------------------------------------------
    def _labels(self, batch: Batch) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if batch.y is None:
            raise ConfigError("this GAN is class-conditional: the training data needs labels")
        return batch.y

    def draw(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None, *,
             truncation: float | None = None, temperature: float = 1.0, code: torch.Tensor | None = None,
             continuous: torch.Tensor | None = None) -> Latents:
        """Latent inputs for n samples (see ``latents.draw_latents``): drawn on the CPU (a seed gives the same
        latents on every device), returned on the model's device."""
        return draw_latents(n, self.config.latent_dim, num_classes=self.num_classes, categories=self.categories,
                            continuous=self.continuous, labels=None if labels is None else labels.cpu(), code=code,
                            continuous_codes=continuous, truncation=truncation, temperature=temperature,
                            generator=generator).to(self.device)

    def generate(self, lat: Latents) -> torch.Tensor:
        """G's raw output for the latents: images in [-1, 1] (B, C, H, W) or points (B, D)."""
        lat = lat.to(self.device)
        return self.generator(lat.generator_input(self.categories), lat.labels)

    # --- training ---------------------------------------------------------------------------
    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        cfg = self.config
        adam_unroll = cfg.unroll_steps > 0 and cfg.unroll_optimizer == "adam"
        return {"discriminator": OptimizerGroup(trainable(self.critic.parameters()),
                                                {"lr": cfg.lr_d} if cfg.lr_d else {},
                                                ("adam", "adamw") if adam_unroll else (),
                                                "G's loss unrolls D's Adam steps; or use unroll_optimizer=sgd"),
                "generator": OptimizerGroup(trainable(self.generator.parameters()),
                                            {"lr": cfg.lr_g} if cfg.lr_g else {})}

    def update_schedule(self, step: int) -> list[str]:
        """D every step; G after every ``n_critic``-th D step."""
        return ["discriminator", "generator"] if (step + 1) % self.config.n_critic == 0 else ["discriminator"]

    def loss(self, batch: Batch, group: str = "discriminator") -> dict[str, torch.Tensor]:
        if group == "discriminator":
            return self.discriminator_loss(batch)
        if group == "generator":
            return self.generator_loss(batch)
        raise ValueError(f"unknown optimizer group {group!r}")

    def _noise_std(self, step: int) -> float:
        return instance_noise_std(self.config.instance_noise, step, self.config.instance_noise_steps)

    def _code_losses(self, out: CriticOutput, lat: Latents) -> dict[str, torch.Tensor]:
        """AC-GAN's class loss and InfoGAN's mutual-information terms on generated samples."""
        cfg, terms = self.config, {}
        if out.aux is not None:
            terms["aux_fake"] = cfg.aux_weight * F.cross_entropy(out.aux, lat.labels)
        if out.q is not None:
            if self.categories:  # -E log Q(c | x): H(c) minus the lower bound on I(c; G(z, c))
                terms["info_cat"] = cfg.info_weight * F.cross_entropy(out.q[:, : self.categories], lat.code)
            if self.continuous:  # Gaussian Q with unit variance, up to a constant
                mean = out.q[:, self.categories:]
                terms["info_cont"] = cfg.info_continuous_weight * 0.5 * (mean - lat.continuous).pow(2).sum(1).mean()
        return terms

    def generated(self, batch: Batch, labels: torch.Tensor | None) -> tuple[Latents, torch.Tensor]:
        """Latents and G's samples (with G's graph) for G's step: those D's step made for this very batch,
        else freshly drawn."""
        shared, self._shared = self._shared, None
        if shared is not None and shared[0] is batch:
            return shared[1], shared[2]
        lat = self.draw(len(batch.x), labels=labels)
        return lat, self.generate(lat)

    def after_optimizer_step(self, group: str) -> None:
        """WGAN: clip the critic right after its update (Arjovsky et al., Algorithm 1), so G's step sees it
        clipped."""
        if group == "discriminator" and self.config.clip:
            clip_weights(self.critic.parameters(), self.config.clip)

    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg, x, y = self.config, batch.x, self._labels(batch)
        lat = self.draw(len(x), labels=y)
        if torch.is_grad_enabled() and "generator" in self.update_schedule(batch.step):
            # G steps on this batch too: generate once with G's graph and let G's step reuse the samples
            # (as the DCGAN reference code does), saving one generator forward per step
            fake_g = self.generate(lat)
            self._shared = (batch, lat, fake_g)
            fake = fake_g.detach()
        else:
            with torch.no_grad():
                fake = self.generate(lat)
        if cfg.clip:  # idempotent here: the weights were clipped after D's last update (after_optimizer_step);
            clip_weights(self.critic.parameters(), cfg.clip)  # this covers the initial and any loaded weights
        std = self._noise_std(batch.step)
        out_r = self.critic(add_instance_noise(x, std), y)
        out_f = self.critic(add_instance_noise(fake, std), lat.labels)
        terms = {"adv": self.objective.d_loss(out_r.logits, out_f.logits, real_label(cfg.label_smoothing))}
        if out_r.aux is not None:
            terms["aux_real"] = cfg.aux_weight * F.cross_entropy(out_r.aux, y)
        terms.update(self._code_losses(out_f, lat))
        critic = lambda v, labels=y: self.critic(v, labels).logits  # noqa: E731
        if cfg.gp_weight:
            terms["gp"] = cfg.gp_weight * gradient_penalty(critic, x, fake)
        lazy = batch.step % cfg.r_every == 0
        if cfg.r1_weight and lazy:
            terms["r1"] = cfg.r1_weight / 2 * cfg.r_every * zero_centred_penalty(critic, x)
        if cfg.r2_weight and lazy:
            terms["r2"] = cfg.r2_weight / 2 * cfg.r_every * zero_centred_penalty(lambda v: critic(v, lat.labels), fake)
        if self.hist_d is not None:
            terms["hist"] = cfg.hist_weight * self.hist_d.penalty(update=self.training)
        logs = {"d_real": out_r.logits.detach().mean(), "d_fake": out_f.logits.detach().mean()}
        return self._total(terms, logs)

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg, y = self.config, self._labels(batch)
        lat, fake = self.generated(batch, y)
        with frozen(self.critic):
            out = self.critic(add_instance_noise(fake, self._noise_std(batch.step)), lat.labels)
            if cfg.feature_matching:
                with torch.no_grad():
                    real_features = self.critic(batch.x, y).features
        terms = {"adv": self.objective.g_loss(out.logits), **self._code_losses(out, lat)}
        if cfg.feature_matching:
            terms["fm"] = cfg.feature_matching * feature_matching(real_features, out.features)
        if cfg.ortho_weight:
            terms["ortho"] = cfg.ortho_weight * orthogonal_penalty(matrix_weights(self.generator))
        if self.hist_g is not None:
            terms["hist"] = cfg.hist_weight * self.hist_g.penalty(update=self.training)
        return self._total(terms, {"d_fake": out.logits.detach().mean()})

    @staticmethod
    def _total(terms: dict[str, torch.Tensor], logs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        loss = sum(terms.values())
        out = {"loss": loss}
        if len(terms) > 1:
            out.update({k: v.detach() for k, v in terms.items()})
        return {**out, **logs}

    def training_step(self, batch: Batch, ctx) -> dict[str, torch.Tensor]:
        """Manual path (unrolled GAN): D's step as usual, then G's step against the unrolled D."""
        logs: dict[str, torch.Tensor] = {}
        for group in self.update_schedule(batch.step):
            ctx.zero_grad(group)
            out = self.discriminator_loss(batch) if group == "discriminator" else \
                unrolled_generator_loss(self, batch, ctx.optimizer("discriminator"))
            ctx.backward(out["loss"], group)
            ctx.step(group)
            logs.update({f"{group}/{k}": v.detach() for k, v in out.items()})
        return logs

    # --- generation -------------------------------------------------------------------------
    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               truncation: float | None = None, temperature: float = 1.0, code: torch.Tensor | None = None,
               continuous: torch.Tensor | None = None) -> torch.Tensor:
        """n samples: images (n, C, H, W) in [0, 1] or points (n, D).

        labels (n,): classes for conditional models (else drawn uniformly; ignored by unconditional ones);
        truncation: z drawn from N(0, I) truncated to (-t, t) (BigGAN's truncation trick); temperature scales z;
        code (n,) / continuous (n, C): InfoGAN's codes (else drawn)."""
        return self.sample_with_latents(n, labels=labels, generator=generator, truncation=truncation,
                                        temperature=temperature, code=code, continuous=continuous)[0]

    @torch.no_grad()
    def sample_with_latents(self, n: int, *, labels: torch.Tensor | None = None,
                            generator: torch.Generator | None = None, **options) -> tuple[torch.Tensor, Latents]:
        """``sample`` that also returns the latents it used (labels, InfoGAN codes), for evaluation."""
        lat = self.draw(n, labels=labels, generator=generator, **options)
        return self.render(lat), lat

    @torch.no_grad()
    def render(self, lat: Latents) -> torch.Tensor:
        """Samples for given latents: images (B, C, H, W) in [0, 1] or points (B, D) (interpolations, traversals)."""
        x = self.generate(lat)
        return x if self.points else ((x + 1) / 2).clamp(0, 1)
