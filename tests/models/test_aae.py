"""Adversarial autoencoders: the priors' densities and samples agree, the regularisation gradient pushes codes
toward the prior, label-conditioned priors put each class in its own region, and the phases step apart."""
from __future__ import annotations

import math

import pytest
import torch

from dgm.data.dataset import DatasetInfo
from dgm.errors import ConfigError
from dgm.models import create
from dgm.models.base import Batch
from dgm.models.latent_priors import GaussianPrior, MixturePrior, SwissRollPrior, high_density_share, make_prior


@pytest.mark.parametrize("prior", [MixturePrior(10), SwissRollPrior(10), GaussianPrior(2)])
def test_prior_density_integrates_to_one_and_matches_its_samples(prior):
    # the density on a fine grid sums to 1, and its samples sit where it is high
    side = torch.linspace(-6, 6, 161)  # a lattice step of 1.5 noise stds still sums a Gaussian to within 1e-3
    gx, gy = torch.meshgrid(side, side, indexing="ij")
    z = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    cell = float(side[1] - side[0]) ** 2
    assert float(prior.log_density(z).double().exp().sum() * cell) == pytest.approx(1.0, abs=0.02)
    s = prior.sample(4000, generator=torch.Generator().manual_seed(0))
    assert high_density_share(prior, s, 0.95) == pytest.approx(0.95, abs=0.02)
    assert high_density_share(prior, s + 20.0, 0.95) == 0.0  # codes far away are outside


def test_label_regions_are_disjoint_and_checked():
    for prior in (MixturePrior(10), SwissRollPrior(10)):
        labels = torch.arange(10).repeat_interleave(200)
        z = prior.sample(2000, labels, torch.Generator().manual_seed(1))
        centres = torch.stack([z[labels == k].mean(0) for k in range(10)])
        gaps = torch.cdist(centres, centres) + 1e9 * torch.eye(10)
        assert float(gaps.min()) > 0.3  # each label's codes in its own place
        with pytest.raises(ConfigError):
            prior.sample(1, torch.tensor([10]))
    with pytest.raises(ConfigError, match="no label regions"):
        GaussianPrior(2).sample(1, torch.tensor([0]))
    with pytest.raises(ConfigError, match="latent_dim=2"):
        make_prior("mixture", 8, 10)


def info(classes: int = 0) -> DatasetInfo:
    return DatasetInfo(name="toy", split="train", shape=(1, 8, 8), kind="binary", num_classes=classes)


class FixedCodes(torch.nn.Module):
    """An encoder stand-in whose 1-D codes are N(3, 0.5^2) whatever the input (the prior is N(0, 1))."""

    def forward(self, x):
        return 3 + 0.5 * torch.randn(len(x), 1)


def test_regularisation_gradient_pushes_codes_toward_the_prior():
    # the model's own discriminator phase, trained alone against codes at N(3, 0.5^2), learns to score prior
    # samples above codes; the encoder's loss gradient on each code then points away from the prior, so a
    # gradient step moves the codes toward it
    torch.manual_seed(0)
    model = create("aae", info(), hidden=(8,), latent_dim=1, disc_hidden=(32,))
    model.net.encoder = FixedCodes()
    opt = torch.optim.Adam(model.code_discriminator.parameters(), lr=1e-2)
    x = torch.zeros(256, 1, 8, 8)
    for _ in range(300):
        loss = model.loss(Batch(x), "discriminator")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        prior_score = model._critic(model.prior.sample(1000, generator=g), None).mean()
        code_score = model._critic(3 + 0.5 * torch.randn(1000, 1, generator=g), None).mean()
    assert prior_score > code_score + 2
    codes = (3 + 0.5 * torch.randn(256, 1, generator=g)).requires_grad_()
    model.generator_loss(codes).backward()
    moved = codes.detach() - 0.5 * codes.grad * 256
    assert (codes.grad > 0).float().mean() > 0.95  # descending the loss lowers every code, toward 0
    assert float(moved.mean()) < float(codes.detach().mean())


def test_phases_step_their_own_parameters():
    model = create("aae-mixture", info(10), hidden=(8,), disc_hidden=(8,), prior_labels=True)
    groups = model.optimizer_groups()
    assert model.update_schedule(0) == ["autoencoder", "discriminator", "generator"]
    assert {id(p) for p in groups["generator"].params} == {id(p) for p in model.net.encoder.parameters()}
    assert not {id(p) for p in groups["discriminator"].params} & {id(p) for p in model.net.parameters()}
    x = (torch.rand(16, 1, 8, 8) < 0.5).float()
    y = torch.arange(16) % 10
    for group in ("autoencoder", "discriminator", "generator"):
        model.zero_grad()
        model.loss(Batch(x, y), group)["loss"].backward()
        touched = {n.split(".")[0] + "." + n.split(".")[1] for n, p in model.named_parameters() if p.grad is not None}
        # (the generator's loss flows through the discriminator too; only the encoder's optimizer steps on it)
        disc = {"code_discriminator.0", "code_discriminator.2"}
        expected = {"autoencoder": {"net.encoder", "net.decoder_net"}, "discriminator": disc,
                    "generator": {"net.encoder"} | disc}[group]
        assert touched == expected, group
    # the label-conditioned discriminator sees one-hot labels: its input is 2 + 10 wide
    assert model.code_discriminator[0].in_features == 12 and model.num_classes == 10
    s = model.sample(4, labels=torch.tensor([0, 1, 2, 3]), generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, 1, 8, 8)
    with pytest.raises(ConfigError, match="labelled data"):
        create("aae-mixture", info(0), prior_labels=True)
    with pytest.raises(ConfigError, match="prior_components=3"):
        create("aae-mixture", info(3), prior_labels=True)
    assert math.isfinite(model.prior_share(torch.randn(50, 2)))
