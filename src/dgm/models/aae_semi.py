"""Semi-supervised adversarial autoencoder (Makhzani et al. 2016, section 5): the encoder gives a class y
(softmax over K) and a style z; the decoder rebuilds x from (y, z). Four phases a step, as optimizer groups:
reconstruction; two discriminators, one telling one-hot categorical samples from y, one telling N(0, I) from z;
the encoder as generator against both; and classification (cross-entropy) on a batch of the fixed labelled
subset, the only labels it ever sees (``labels_per_class`` of each class, chosen by ``label_seed``: the
trainer serves them and hides the labels of every other example)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import positive
from ..data.dataset import DatasetInfo
from ..errors import ConfigError
from ..nn import MLP
from .aae import NON_SATURATING, AAEConfig
from .autoencoding import DecodesThroughHead, EncoderDecoder
from .base import Batch, GenerativeModel, OptimizerGroup
from .registry import register_model


@dataclass(frozen=True)
class AAESemiConfig(AAEConfig):
    """latent_dim is the style z's size; the class code's size is the data's number of classes."""

    latent_dim: int = 10
    labels_per_class: int = 10  # labelled examples of each class (the paper's 100 labels on MNIST: 10)
    label_seed: int = 0  # which ones: recorded with the run
    labelled_batch_size: int = 100
    lr_c: float = 1e-4  # the classification phase

    def __post_init__(self):
        super().__post_init__()
        positive("labels_per_class", self.labels_per_class)
        positive("labelled_batch_size", self.labelled_batch_size)
        positive("lr_c", self.lr_c)
        if self.prior != "gaussian" or self.prior_labels:
            raise ConfigError("the semi-supervised AAE's style prior is N(0, I): leave prior=gaussian, "
                              "prior_labels=false")


class SemiSupervisedAAE(DecodesThroughHead, GenerativeModel):
    """Groups: autoencoder, discriminator (both critics), generator (the encoder), classifier (the encoder)."""

    Config = AAESemiConfig
    default_train = {"lr": 1e-4, "batch_size": 100, "steps": 10_000}
    # periodic validation: classification error on the carved validation images' labels (never trained on; a
    # selection set far larger than the 100 training labels, as the paper's validation split)
    validate_by = "classification"
    tiny = {"hidden": (16,), "latent_dim": 2, "conv_channels": (4, 8), "disc_hidden": (8,), "labels_per_class": 1,
            "labelled_batch_size": 8}

    def __init__(self, config: AAESemiConfig, info: DatasetInfo):
        super().__init__(config, info)
        if not info.num_classes:
            raise ConfigError(f"the semi-supervised AAE needs labelled data (its classes); {info.name} has none")
        self.num_classes = k = info.num_classes
        self.style_dim, self.latent_dim = config.latent_dim, config.latent_dim + k
        self.labels_per_class, self.labelled_batch_size = config.labels_per_class, config.labelled_batch_size
        self.net = EncoderDecoder(dataclasses.replace(config, latent_dim=self.latent_dim), info.shape, info.kind,
                                  self.latent_dim)
        self.head = self.net.head
        self.input_transform = self.head.input_transform
        self.class_critic = MLP(k, config.disc_hidden, 1, "relu")
        self.style_critic = MLP(config.latent_dim, config.disc_hidden, 1, "relu")

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        critics = list(self.class_critic.parameters()) + list(self.style_critic.parameters())
        encoder = list(self.net.encoder.parameters())
        return {"autoencoder": OptimizerGroup(list(self.net.parameters())),
                "discriminator": OptimizerGroup(critics, {"lr": self.config.lr_d}),
                "generator": OptimizerGroup(encoder, {"lr": self.config.lr_g}),
                "classifier": OptimizerGroup(list(encoder), {"lr": self.config.lr_c})}

    def update_schedule(self, step: int) -> list[str]:
        return ["autoencoder", "discriminator", "generator", "classifier"]

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (class logits (B, K), style (B, L))."""
        h = self.net.encoder(x)
        return h[:, :self.num_classes], h[:, self.num_classes:]

    def loss(self, batch: Batch, group: str = "autoencoder") -> dict[str, torch.Tensor]:
        x = batch.x
        if group == "classifier":
            if batch.labelled is None:  # only the trainer's labelled subset may teach classes
                logits, _ = self.split(x)
                return {"loss": 0.0 * logits.sum()}
            xl, yl = batch.labelled
            logits, _ = self.split(xl)
            return {"loss": F.cross_entropy(logits, yl),
                    "accuracy": (logits.argmax(1) == yl).float().mean().detach()}
        if group == "autoencoder":
            logits, style = self.split(x)
            rec = self.head.log_prob(self.net.decoder(torch.cat([torch.softmax(logits, -1), style], 1)), x)
            return {"loss": -rec.mean(), "recon": -rec.mean().detach()}
        if group == "discriminator":
            with torch.no_grad():
                logits, style = self.split(x)
            y_prior = F.one_hot(torch.randint(0, self.num_classes, (len(x),)), self.num_classes).to(style)
            terms = []
            for critic, real, fake in ((self.class_critic, y_prior, torch.softmax(logits, -1)),
                                       (self.style_critic, torch.randn_like(style), style)):
                terms.append(NON_SATURATING.d_loss(critic(real).squeeze(-1), critic(fake).squeeze(-1)))
            return {"loss": terms[0] + terms[1], "class_critic": terms[0].detach(), "style_critic": terms[1].detach()}
        logits, style = self.split(x)
        c = self.class_critic(torch.softmax(logits, -1)).squeeze(-1)
        s = self.style_critic(style).squeeze(-1)
        return {"loss": NON_SATURATING.g_loss(c) + NON_SATURATING.g_loss(s)}

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, *shape) as from ``prepare`` -> class logits (B, K)."""
        return self.split(x)[0]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x -> codes (B, K + L): the class probabilities, then the style."""
        logits, style = self.split(x)
        return torch.cat([torch.softmax(logits, -1), style], 1)

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, mean: bool = True):
        """Decode a one-hot class (``labels``, else uniform) with a style z ~ N(0, I); (n, C, H, W) in [0, 1]."""
        y = torch.randint(0, self.num_classes, (n,), generator=generator) if labels is None else labels.cpu()
        z = torch.cat([F.one_hot(y.long(), self.num_classes).float(), torch.randn(n, self.style_dim,
                                                                                  generator=generator)], 1)
        return self.decode_samples(z.to(self.device), mean, generator)


register_model("aae-semi", SemiSupervisedAAE, "semi-supervised adversarial autoencoder (Makhzani et al. 2016): "
               "class and style codes, two discriminators, 10 labels per class by default")
