"""Disentanglement metrics on synthetic encoders of known factors: the identity map of the factors scores near 1,
a random rotation of them scores low, a constant encoder scores at chance; MIG and DCI against hand computations."""
from __future__ import annotations

import math

import pytest
import torch

from dgm.data.factors import Factors
from dgm.metrics.disentanglement import (beta_vae_metric, dci_from_importance, dci_metric, entropy,
                                         factor_vae_metric, mig_from_codes, mig_metric, mutual_information)

SIZES = (3, 6, 10, 8, 8)


@pytest.fixture(scope="module")
def grid() -> Factors:
    """A complete factor grid (every combination once), like dSprites' but smaller."""
    mesh = torch.meshgrid(*(torch.arange(s) for s in SIZES), indexing="ij")
    indices = torch.stack([m.reshape(-1) for m in mesh], 1)
    values = tuple(torch.linspace(0, 1, s, dtype=torch.float64) for s in SIZES)
    return Factors(("shape", "scale", "orientation", "pos_x", "pos_y"), values, indices)


def encoders(grid: Factors):
    """Synthetic encoders of the factors: the identity (standardised indices), a rotation of it, a constant.

    The rotation is the 8 x 8 Hadamard one (the factors padded with three zeros): every code holds every factor
    with the same weight, +-1/sqrt(8). (A random rotation stays partly axis-aligned: each factor still has one
    code it weighs most, and the FactorVAE metric rightly finds that code.)"""
    standard = (grid.indices.double() - grid.indices.double().mean(0)) / grid.indices.double().std(0)
    h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    rotation = torch.kron(torch.kron(h2, h2), h2) / 8 ** 0.5
    padded = torch.cat([standard, torch.zeros(len(standard), 3, dtype=torch.float64)], 1)
    noise = torch.randn(len(grid), 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    return {"identity": lambda rows: standard[rows],
            "rotated": lambda rows: padded[rows] @ rotation.T,
            # a tiny per-sample jitter keeps the codes continuous like an encoder's, not changing what they carry
            "identity+jitter": lambda rows: standard[rows] + 1e-3 * noise[rows],
            "constant": lambda rows: torch.zeros(len(rows), 5, dtype=torch.float64)}


def test_beta_vae_metric_identity_rotation_constant(grid):
    enc = encoders(grid)
    ident = beta_vae_metric(enc["identity"], grid, n_train=300, n_eval=200, seed=0)["eval_accuracy"]
    rot = beta_vae_metric(enc["rotated"], grid, n_train=300, n_eval=200, seed=0)["eval_accuracy"]
    const = beta_vae_metric(enc["constant"], grid, n_train=300, n_eval=200, seed=0)["eval_accuracy"]
    assert ident > 0.97
    assert rot < ident - 0.1  # the metric is known to be lenient with linear mixing: lower, not near chance
    assert abs(const - 0.2) < 0.08  # five factors: chance 1/5


def test_factor_vae_metric_identity_rotation_constant(grid):
    enc = encoders(grid)
    ident = factor_vae_metric(enc["identity"], grid, n_train=300, n_eval=200, n_variance=2000, seed=0)
    rot = factor_vae_metric(enc["rotated"], grid, n_train=300, n_eval=200, n_variance=2000, seed=0)
    const = factor_vae_metric(enc["constant"], grid, n_train=300, n_eval=200, n_variance=2000, seed=0)
    assert ident["eval_accuracy"] == 1.0 and ident["active_codes"] == 5
    assert rot["eval_accuracy"] < 0.45
    assert const["active_codes"] == 0 and abs(const["eval_accuracy"] - 0.2) < 0.08


def test_mig_identity_rotation_constant(grid):
    enc = encoders(grid)
    assert mig_metric(enc["identity"], grid, n=4000, seed=0)["mig"] > 0.95
    assert mig_metric(enc["rotated"], grid, n=4000, seed=0)["mig"] < 0.3
    assert mig_metric(enc["constant"], grid, n=4000, seed=0)["mig"] == 0.0


def test_mig_by_hand_on_discrete_codes():
    # factor a uniform on {0,1,2,3}, factor b uniform on {0,1}, independent; code 0 = a, code 1 = a // 2,
    # code 2 = b. MI(code0; a) = log 4, MI(code1; a) = log 2, MI(code2; a) = 0 -> gap_a = (log4 - log2) / log4 = 1/2.
    # MI(code2; b) = log 2, MI(code1; b) = MI(a // 2; b) = 0 -> gap_b = 1. MIG = (1/2 + 1) / 2 = 3/4.
    a = torch.arange(4).repeat_interleave(2)
    b = torch.arange(2).repeat(4)
    codes = torch.stack([a, a // 2, b], 1).double()
    out = mig_from_codes(codes, torch.stack([a, b], 1))
    assert out["per_factor"] == [0.5, 1.0]
    assert out["mig"] == pytest.approx(0.75)
    assert mutual_information(a, a // 2) == pytest.approx(math.log(2))
    assert entropy(a) == pytest.approx(math.log(4))


def test_mutual_information_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 7, (500,), generator=g)
    b = (a + torch.randint(0, 3, (500,), generator=g)) % 5
    assert mutual_information(a, b) == pytest.approx(metrics.mutual_info_score(a.numpy(), b.numpy()), abs=1e-12)


def test_dci_of_hand_made_importance_matrices():
    # one code per factor: fully disentangled and complete; every code equally useful for every factor: 0 and 0
    assert dci_from_importance(torch.eye(4, dtype=torch.float64)) == {"disentanglement": 1.0, "completeness": 1.0}
    flat = dci_from_importance(torch.ones(4, 4, dtype=torch.float64))
    assert flat["disentanglement"] == pytest.approx(0.0, abs=1e-12) and flat["completeness"] == pytest.approx(0.0, abs=1e-12)
    # one code for both of two factors, the other code useless: disentanglement 0 (its row is uniform over 2
    # factors), completeness 1 (each factor's importance sits on one code)
    one = dci_from_importance(torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64))
    assert one["disentanglement"] == pytest.approx(0.0, abs=1e-12) and one["completeness"] == pytest.approx(1.0)
    # a hand computation: row (3, 1) -> p = (3/4, 1/4), D_row = 1 - H(p)/log 2, weight 4/5; row (0, 1): D = 1, 1/5
    m = torch.tensor([[3.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert dci_from_importance(m)["disentanglement"] == pytest.approx(0.8 * (1 - h) + 0.2 * 1.0)


@pytest.mark.parametrize("importance", ["logistic", "gbt"])
def test_dci_identity_beats_rotation(grid, importance):
    if importance == "gbt":
        pytest.importorskip("sklearn")
    enc = encoders(grid)
    # the linear importance sees the identity's codes exactly; trees need no jitter either
    ident = dci_metric(enc["identity+jitter"], grid, n_train=600, n_test=300, importance=importance, seed=0)
    rot = dci_metric(enc["rotated"], grid, n_train=600, n_test=300, importance=importance, seed=0)
    assert ident["disentanglement"] > 0.8 and ident["completeness"] > 0.8
    assert rot["disentanglement"] < ident["disentanglement"] - 0.3
    assert ident["importance"] == importance
