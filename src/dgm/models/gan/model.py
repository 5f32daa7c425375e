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
from .parts import Step, Term, build
from .progan_nets import growth
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
    ``n_critic``-th step. Penalties, regularisers and tricks are parts (``self.penalties`` etc., parts.py) that
    the losses consult in a fixed order. With ``unroll_steps`` > 0 the model optimises by hand
    (``training_step``), since the generator's loss looks through k unrolled discriminator updates (Metz et al.
    2017).
    Images are modelled in [-1, 1] (``input_transform`` "symmetric"); 2-D points as they are.
    """

    Config = GANConfig
    default_train = {"lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "steps": 10_000}
    tiny = {"networks": {"mlp_hidden": (16,), "channels": 8}, "latent_dim": 8,
            "tricks": {"minibatch_discrimination": None}}

    def __init__(self, config: GANConfig, info: DatasetInfo):
        super().__init__(config, info)
        cfg = config
        self.points = info.kind == "points"
        self.input_transform = "unit" if self.points else "symmetric"  # binary data: {-1, 1} (base prepare)
        self.num_classes = info.num_classes if cfg.conditional else 0
        if cfg.conditional and info.num_classes < 2:
            raise ConfigError(f"this GAN is class-conditional but {info.name} has no labels; pick an unconditional "
                              "model (e.g. dcgan) or labelled data")
        self.categories, self.continuous = cfg.codes.categorical, cfg.codes.continuous
        self.manual_optimization = cfg.schedule.unroll_steps > 0
        net, cond = cfg.networks, cfg.conditioning
        arch = "dcgan" if net.architecture == "auto" else net.architecture
        spec = NetSpec(tuple(info.shape), self.points, cfg.latent_dim + self.categories + self.continuous,
                       self.num_classes, cond.generator, cond.discriminator == "concat", tuple(net.mlp_hidden),
                       net.channels, net.d_norm, net.attention, net.fc_hidden,
                       tuple(net.mlp_hidden_d) if net.mlp_hidden_d is not None else None, net.mapping_layers,
                       net.style_mixing, net.g_norm)
        self.generator, trunk = build_networks(arch, spec)
        # tricks first: some add layers on D's features (minibatch std / discrimination)
        self.tricks = build("tricks", cfg.tricks, self)
        self.critic = Critic(trunk, num_classes=self.num_classes, conditioning=cond.discriminator,
                             categories=self.categories, continuous=self.continuous, feature_layers=[
                                 t.critic_layer for t in self.tricks.values()])
        initialise(self.generator, net.init)
        initialise(self.critic, net.init)
        if net.spectral_norm != "none":
            spectral_normalize(self.critic)
        if net.spectral_norm == "both":
            spectral_normalize(self.generator, skip=(ConditionalBatchNorm2d,))
        self.objective = get_objective(cfg.objective)
        self.penalties = build("penalties", cfg.penalties, self)
        self.regularisers = build("regularisers", cfg.regularisers, self)
        self.real_target = next((t.real_target() for t in self.tricks.values() if t.real_target() is not None), 1.0)
        self._shared: tuple[Batch, Latents, torch.Tensor] | None = None  # D's fakes, kept for G's step
        self.register_load_state_dict_pre_hook(_flat_state_names)

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
        latents on every device), returned on the model's device. ``truncation``: z truncated to (-t, t), or for
        a style-based generator psi of the truncation in W (StyleGAN)."""
        in_w = truncation is not None and self.style_based
        lat = draw_latents(n, self.config.latent_dim, num_classes=self.num_classes, categories=self.categories,
                           continuous=self.continuous, labels=None if labels is None else labels.cpu(), code=code,
                           continuous_codes=continuous, truncation=None if in_w else truncation,
                           temperature=temperature, generator=generator).to(self.device)
        if in_w:
            lat.psi = truncation
        return lat

    @property
    def style_based(self) -> bool:
        """Whether G maps z to per-layer styles (truncation in W, style mixing, path length)."""
        return hasattr(self.generator, "synthesis")

    def generate(self, lat: Latents) -> torch.Tensor:
        """G's raw output for the latents: images (B, C, H, W), in [-1, 1] (tanh; style-based generators are
        linear, trained towards it), or points (B, D)."""
        lat = lat.to(self.device)
        if lat.psi is not None:
            return self.generator(lat.generator_input(self.categories), lat.labels, psi=lat.psi)
        return self.generator(lat.generator_input(self.categories), lat.labels)

    # --- training ---------------------------------------------------------------------------
    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        sch = self.config.schedule
        adam_unroll = sch.unroll_steps > 0 and sch.unroll_optimizer == "adam"
        return {"discriminator": OptimizerGroup(trainable(self.critic.parameters()),
                                                {"lr": sch.lr_d} if sch.lr_d else {},
                                                ("adam", "adamw") if adam_unroll else (),
                                                "G's loss unrolls D's Adam steps; or use schedule.unroll_optimizer=sgd"),
                "generator": OptimizerGroup(trainable(self.generator.parameters()),
                                            {"lr": sch.lr_g} if sch.lr_g else {})}

    def update_schedule(self, step: int) -> list[str]:
        """D every step; G after every ``n_critic``-th D step."""
        return ["discriminator", "generator"] if (step + 1) % self.config.schedule.n_critic == 0 else ["discriminator"]

    def grow(self, batch: Batch) -> None:
        """Progressive growing: set both networks' level and fade-in weight from the images seen before this
        batch (step x global batch size; a no-op for networks that do not grow)."""
        if hasattr(self.generator, "set_growth"):
            level, alpha = growth(batch.images_seen, self.config.schedule.grow_images, self.generator.levels)
            for net in (self.generator, self.critic.trunk):
                net.set_growth(level, alpha)

    def loss(self, batch: Batch, group: str = "discriminator") -> dict[str, torch.Tensor]:
        if self.training:
            self.grow(batch)
        if group == "discriminator":
            return self.discriminator_loss(batch)
        if group == "generator":
            return self.generator_loss(batch)
        raise ValueError(f"unknown optimizer group {group!r}")

    def perturb(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """D's input x at ``step`` after the tricks that change it (instance noise)."""
        for trick in self.tricks.values():
            x = trick.perturb(x, step)
        return x

    def _code_losses(self, out: CriticOutput, lat: Latents) -> dict[str, torch.Tensor]:
        """AC-GAN's class loss and InfoGAN's mutual-information terms on generated samples."""
        cfg, terms = self.config, {}
        if out.aux is not None:
            terms["aux_fake"] = cfg.conditioning.aux_weight * F.cross_entropy(out.aux, lat.labels)
        if out.q is not None:
            if self.categories:  # -E log Q(c | x): H(c) minus the lower bound on I(c; G(z, c))
                terms["info_cat"] = cfg.codes.weight * F.cross_entropy(out.q[:, : self.categories], lat.code)
            if self.continuous:  # Gaussian Q with unit variance, up to a constant
                mean = out.q[:, self.categories:]
                terms["info_cont"] = cfg.codes.continuous_weight * 0.5 * (mean - lat.continuous).pow(2).sum(1).mean()
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
        """The parts' constraints after ``group``'s update (WGAN: clip the critic right after its update,
        Arjovsky et al., Algorithm 1, so G's step sees it clipped)."""
        for p in self.penalties.values():
            p.after_step(group)

    def _add_terms(self, terms: dict[str, torch.Tensor], player: str, ctx: Step) -> None:
        """The weighted loss terms of the penalties and regularisers that act on ``player`` at this step."""
        for name, term in [*self.penalties.items(), *self.regularisers.items()]:
            if isinstance(term, Term) and player in term.players:
                weight = term.weight_at(ctx.batch.step)
                if weight:
                    terms[name] = weight * term.value(player, ctx)

    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch.x, self._labels(batch)
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
        if "clip" in self.penalties:  # idempotent here: the weights were clipped after D's last update
            self.penalties["clip"].apply()  # (after_optimizer_step); this covers the initial and any loaded weights
        out_r = self.critic(self.perturb(x, batch.step), y)
        out_f = self.critic(self.perturb(fake, batch.step), lat.labels)
        terms = {"adv": self.objective.d_loss(out_r.logits, out_f.logits, self.real_target)}
        if out_r.aux is not None:
            terms["aux_real"] = self.config.conditioning.aux_weight * F.cross_entropy(out_r.aux, y)
        terms.update(self._code_losses(out_f, lat))
        if out_r.layer_loss is not None:  # feature quantisation's commitment term, on both passes
            terms["fq"] = self.tricks["feature_quantisation"].settings.weight * (out_r.layer_loss + out_f.layer_loss) / 2
        self._add_terms(terms, "discriminator", Step(self, batch, y, lat, fake, out_f, out_r))
        logs = {"d_real": out_r.logits.detach().mean(), "d_fake": out_f.logits.detach().mean()}
        return self._total(terms, logs)

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        y = self._labels(batch)
        lat, fake = self.generated(batch, y)
        with frozen(self.critic):
            out = self.critic(self.perturb(fake, batch.step), lat.labels)
            terms = {"adv": self.objective.g_loss(out.logits), **self._code_losses(out, lat)}
            self._add_terms(terms, "generator", Step(self, batch, y, lat, fake, out))
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
        self.grow(batch)
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
        truncation: z drawn from N(0, I) truncated to (-t, t) (BigGAN's truncation trick), or for style-based
        generators psi of StyleGAN's truncation in W (w_avg + psi (w - w_avg)); temperature scales z;
        code (n,) / continuous (n, C): InfoGAN's codes (else drawn)."""
        return self.sample_with_latents(n, labels=labels, generator=generator, truncation=truncation,
                                        temperature=temperature, code=code, continuous=continuous)[0]

    @torch.no_grad()
    def sample_with_latents(self, n: int, *, labels: torch.Tensor | None = None,
                            generator: torch.Generator | None = None, **options) -> tuple[torch.Tensor, Latents]:
        """``sample`` that also returns the latents it used (labels, InfoGAN codes), for evaluation."""
        lat = self.draw(n, labels=labels, generator=generator, **options)
        return self.render(lat, int(torch.randint(0, 2 ** 62, (), generator=generator))), lat

    @torch.no_grad()
    def render(self, lat: Latents, noise_seed: int = 0) -> torch.Tensor:
        """Samples for given latents: images (B, C, H, W) in [0, 1] or points (B, D) (interpolations, traversals).

        Any noise the generator draws itself (StyleGAN's per-pixel noise) comes from ``noise_seed``, on a forked
        RNG: rendering is a function of its arguments and never moves the global RNG (exact resume)."""
        with self._noise_from(noise_seed):
            x = self.generate(lat)
        return x if self.points else ((x + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def render_styles(self, ws: torch.Tensor, noise_seed: int = 0) -> torch.Tensor:
        """Style-based generators: images (B, C, H, W) in [0, 1] from per-layer styles ws (B, num_ws, W) (style
        mixing); the noise as in ``render``."""
        with self._noise_from(noise_seed):
            x = self.generator.synthesis(ws.to(self.device))
        return ((x + 1) / 2).clamp(0, 1)

    @contextlib.contextmanager
    def _noise_from(self, seed: int):
        """The generator's own random draws from ``seed`` on a forked RNG (the global RNG does not move)."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.default_generator.manual_seed(seed)
            if devices:
                torch.cuda.manual_seed(seed)
            yield


# the first versions kept historical averaging's means at hist_d.* / hist_g.*
_OLD_STATE = {"hist_d.": "regularisers.hist.discriminator.", "hist_g.": "regularisers.hist.generator."}


def _flat_state_names(module, state_dict, prefix, *args) -> None:
    """Load hook: checkpoints of the flat-config GAN name historical averaging's buffers by their old names."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        for old, new in _OLD_STATE.items():
            if rest.startswith(old):
                state_dict[prefix + new + rest[len(old):]] = state_dict.pop(key)
