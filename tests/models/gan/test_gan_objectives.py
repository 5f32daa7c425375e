"""Each objective equals its formula (D and G sides, with their signs) and stays finite at huge logits; the
optimal discriminator of the minimax objective recovers p_data / (p_data + p_g)."""
import math

import pytest
import torch

from dgm.errors import ConfigError
from dgm.models.gan import GANConfig, get_objective, objectives

REAL = torch.tensor([2.0, -0.5, 0.3, 4.0], dtype=torch.float64)
FAKE = torch.tensor([-1.5, 0.7, -3.0, 0.2], dtype=torch.float64)
s = torch.sigmoid

FORMULAS = {  # name -> (D's loss, G's loss), written the textbook way
    "minimax": (lambda r, f: -(s(r).log().mean() + (1 - s(f)).log().mean()), lambda f: (1 - s(f)).log().mean()),
    "non-saturating": (lambda r, f: -(s(r).log().mean() + (1 - s(f)).log().mean()), lambda f: -s(f).log().mean()),
    "least-squares": (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
                      lambda f: 0.5 * ((f - 1) ** 2).mean()),
    "wasserstein": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "hinge": (lambda r, f: torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean(), lambda f: -f.mean()),
}


def test_every_objective_has_a_formula_here():
    assert set(objectives.names()) == set(FORMULAS)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_objective_equals_formula(name):
    obj = get_objective(name)
    d_ref, g_ref = FORMULAS[name]
    torch.testing.assert_close(obj.d_loss(REAL, FAKE), d_ref(REAL, FAKE))
    torch.testing.assert_close(obj.g_loss(FAKE), g_ref(FAKE))


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_sign_conventions(name):
    """D lowers its loss by scoring real higher and fake lower; G by making D score its samples higher."""
    obj = get_objective(name)
    r = torch.tensor([0.1, -0.2], requires_grad=True)  # inside every margin / below every target
    f = torch.tensor([0.3, 0.4], requires_grad=True)
    obj.d_loss(r, f).backward()
    assert (r.grad < 0).all() and (f.grad > 0).all()
    f2 = f.detach().clone().requires_grad_(True)
    obj.g_loss(f2).backward()
    assert (f2.grad < 0).all()


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_finite_at_huge_logits(name):
    obj = get_objective(name)
    for v in (1e4, -1e4):
        r = torch.full((3,), v, requires_grad=True)
        f = torch.full((3,), -v, requires_grad=True)
        d, g = obj.d_loss(r, f), obj.g_loss(f)
        (d + g).backward()
        assert torch.isfinite(d) and torch.isfinite(g)
        assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()
    # the saturating corner: a confident D at 1e4 gives the minimax G loss ~ 0 and the non-saturating one ~ 1e4
    if name == "minimax":
        assert abs(float(obj.g_loss(torch.tensor([-1e4])))) < 1e-6
    if name == "non-saturating":
        assert float(obj.g_loss(torch.tensor([-1e4]))) == pytest.approx(1e4)


@pytest.mark.parametrize("name", ["minimax", "non-saturating"])
def test_one_sided_label_smoothing(name):
    obj = get_objective(name)
    t = 0.9
    ref = -(t * s(REAL).log() + (1 - t) * (1 - s(REAL)).log()).mean() - (1 - s(FAKE)).log().mean()
    torch.testing.assert_close(obj.d_loss(REAL, FAKE, t), ref)
    torch.testing.assert_close(get_objective("least-squares").d_loss(REAL, FAKE, t),
                               0.5 * ((REAL - t) ** 2).mean() + 0.5 * (FAKE ** 2).mean())


def _log_normal(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def test_optimal_discriminator_is_the_density_ratio():
    """Trained to convergence on samples of p_data = N(0, 1) and p_g = N(1, 0.5^2), the minimax D satisfies
    sigmoid(D(x)) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Proposition 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster and not disturbed by other work
    try:
        got, ratio = _train_discriminator()
    finally:
        torch.set_num_threads(threads)
    assert (got - ratio).abs().max() < 0.05, (got - ratio).abs().max()


def _train_discriminator():
    torch.manual_seed(0)
    d = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
                            torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    loss_fn = get_objective("minimax").d_loss
    for step in range(1000):
        if step == 750:
            for group in opt.param_groups:
                group["lr"] = 2e-3
        real = torch.randn(1024, 1)
        fake = 1 + 0.5 * torch.randn(1024, 1)
        loss = loss_fn(d(real).squeeze(1), d(fake).squeeze(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.linspace(-1.5, 2.0, 50)[:, None]
    ratio = torch.sigmoid(_log_normal(x, 0.0, 1.0) - _log_normal(x, 1.0, 0.5))
    with torch.no_grad():
        return torch.sigmoid(d(x)), ratio


@pytest.mark.parametrize("name", objectives.names())
def test_label_smoothing_is_accepted_exactly_where_the_objective_has_labels(name):
    obj = get_objective(name)
    uses_target = not torch.equal(obj.d_loss(REAL, FAKE, 0.9), obj.d_loss(REAL, FAKE, 1.0))
    assert obj.labelled == uses_target == (name in ("minimax", "non-saturating", "least-squares"))
    if obj.labelled:
        assert GANConfig(objective=name, tricks={"label_smoothing": {"amount": 0.1}}).tricks == {
            "label_smoothing": {"amount": 0.1}}
    else:
        with pytest.raises(ConfigError, match=f"no meaning for the {name} objective"):
            GANConfig(objective=name, tricks={"label_smoothing": {"amount": 0.1}})
