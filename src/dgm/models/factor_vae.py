"""FactorVAE (Kim and Mnih 2018): the VAE's bound plus gamma times the total correlation of q(z), TC = KL(q(z) ||
prod_j q(z_j)), estimated by the density-ratio trick: a discriminator D tells codes z ~ q(z) from codes whose
dimensions were shuffled independently across the batch (samples of prod_j q(z_j)), and TC ~ E[log D / (1 - D)],
the mean of its logit. The discriminator is its own optimizer group with its own Adam settings."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import positive
from ..data.dataset import DatasetInfo
from ..nn import MLP
from .base import Batch, OptimizerGroup
from .gan.objectives import objectives
from .registry import register_model
from .vae import VAE, VAEConfig


@dataclass(frozen=True)
class FactorVAEConfig(VAEConfig):
    """gamma weighs the TC penalty; the discriminator is an MLP (leaky ReLU 0.2) with its own Adam lr and betas."""

    gamma: float = 35.0
    tc_hidden: int = 1000  # paper: 6 hidden layers of 1000 units
    tc_layers: int = 6
    tc_lr: float = 1e-4
    tc_betas: tuple[float, float] = (0.5, 0.9)

    def __post_init__(self):
        super().__post_init__()
        positive("gamma", self.gamma, allow_zero=True)
        positive("tc_hidden", self.tc_hidden)
        positive("tc_layers", self.tc_layers, allow_zero=True)
        positive("tc_lr", self.tc_lr)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, L) -> (B, L) with each column shuffled by its own permutation of the batch: every marginal kept
    exactly, the dependence between dimensions broken (samples of prod_j q(z_j))."""
    b, dims = z.shape
    order = torch.argsort(torch.rand(b, dims, generator=generator), dim=0).to(z.device)
    return torch.gather(z, 0, order)


def total_correlation(logits: torch.Tensor) -> torch.Tensor:
    """The density-ratio estimate of TC from the discriminator's logits on codes z ~ q(z): mean log D/(1-D)."""
    return logits.mean()


class FactorVAE(VAE):
    """A VAE (any encoder/decoder of the family) whose loss adds gamma * TC; groups "main" and "discriminator"."""

    Config = FactorVAEConfig
    default_train = {"lr": 1e-4, "batch_size": 64, "steps": 10_000}
    tiny = {**VAE.tiny, "tc_hidden": 8, "tc_layers": 2}

    def __init__(self, config: FactorVAEConfig, info: DatasetInfo):
        super().__init__(config, info)
        self.tc_discriminator = MLP(config.latent_dim, (config.tc_hidden,) * config.tc_layers, 1, "leaky_relu")

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        vae = [p for name, p in self.named_parameters() if not name.startswith("tc_discriminator.")]  # net, flow
        return {"main": OptimizerGroup(vae),
                "discriminator": OptimizerGroup(list(self.tc_discriminator.parameters()),
                                                {"lr": self.config.tc_lr, "betas": tuple(self.config.tc_betas)})}

    def update_schedule(self, step: int) -> list[str]:
        return ["main", "discriminator"]

    def loss(self, batch: Batch, group: str = "main") -> dict[str, torch.Tensor]:
        x = batch.x
        if group == "discriminator":
            with torch.no_grad():
                z = self.draw_posterior(x)[0]
                shuffled = permute_dims(z)
            joint, product = self.tc_discriminator(z).squeeze(-1), self.tc_discriminator(shuffled).squeeze(-1)
            # codes of q(z) labelled 1, shuffled codes 0: the GAN package's non-saturating critic loss, halved
            loss = 0.5 * objectives.get("non-saturating").d_loss(joint, product)
            accuracy = 0.5 * ((joint > 0).float().mean() + (product < 0).float().mean())
            return {"loss": loss, "accuracy": accuracy.detach()}
        z, _, kl = self.draw_posterior(x)
        rec = self.head.log_prob(self.net.decoder(z), x)
        tc = total_correlation(self.tc_discriminator(z).squeeze(-1))
        objective = (-rec + self.config.beta * kl).mean() + self.config.gamma * tc
        return {"loss": objective, "recon": -rec.mean().detach(), "kl": kl.mean().detach(),
                "elbo": (rec - kl).mean().detach(), "tc": tc.detach()}


register_model("factor-vae", FactorVAE, "FactorVAE (Kim & Mnih 2018): VAE + gamma * total correlation by a "
               "discriminator on dimension-shuffled codes, gamma = 35")
