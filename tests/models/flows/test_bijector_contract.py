"""Contract over every registered bijector: exact inverse, log-determinant equal to autograd's Jacobian, and
identical outputs after a state-dict round trip. A new bijector registers an example and gets these."""
import importlib
import inspect
import pkgutil

import pytest
import torch

import dgm.models.flows as flows
from dgm.models.flows import ActNorm, Bijector, bijectors

SHAPE = (2, 4, 4)


def example(name, seed=0):
    """The registered example, data-initialised, with every parameter moved off its (often identity) init."""
    torch.manual_seed(seed)
    b = bijectors.get(name)(SHAPE)
    b.train()
    b(inputs(b, 16, seed=100))  # data-dependent initialisation (ActNorm)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return b.eval()


def inputs(b, n, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    if b.domain == "unit":
        return (0.05 + 0.9 * torch.rand(n, *SHAPE, generator=g)).to(dtype)
    return (torch.randn(n, *SHAPE, generator=g) * 1.5 + 0.3).to(dtype)


@pytest.mark.parametrize("name", bijectors.names())
def test_domain_is_declared(name):  # the contract draws inputs from it: an unknown value would test nothing
    assert bijectors.get(name)(SHAPE).domain in ("real", "unit")
    assert Bijector.domain == "real"  # the default: most layers take any real input


@pytest.mark.parametrize("name", bijectors.names())
def test_inverse_of_forward_is_identity(name):
    b = example(name)
    x = inputs(b, 8)
    with torch.no_grad():
        y, ladj = b(x)
        assert ladj.shape == (8,) and torch.isfinite(ladj).all()
        assert tuple(y.shape[1:]) == b.output_shape(SHAPE)
        assert (b.inverse(y) - x).abs().max().item() < 1e-4


@pytest.mark.parametrize("name", bijectors.names())
def test_log_det_equals_autograd_jacobian(name):
    b = example(name).double()
    x = inputs(b, 3, dtype=torch.float64)
    _, ladj = b(x)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda t: b(t)[0].flatten(), x[i:i + 1])
        jac = jac.reshape(x[0].numel(), x[0].numel())
        assert torch.linalg.slogdet(jac)[1].item() == pytest.approx(ladj[i].item(), abs=1e-6)


@pytest.mark.parametrize("name", bijectors.names())
def test_state_dict_round_trip_gives_identical_outputs(name, tmp_path):
    from safetensors.torch import load_file, save_file

    b = example(name, seed=0)
    save_file({k: v.contiguous() for k, v in b.state_dict().items()}, tmp_path / "b.safetensors")
    fresh = bijectors.get(name)(SHAPE)  # other random init (other LU permutation, other weights)
    fresh.load_state_dict(load_file(tmp_path / "b.safetensors"))
    fresh.train()  # training mode: a loaded ActNorm must not re-initialise on its first batch
    x = inputs(b, 5, seed=9)
    with torch.no_grad():
        (y1, l1), (y2, l2) = b(x), fresh(x)
        assert torch.equal(y1, y2) and torch.equal(l1, l2)
        assert torch.equal(b.inverse(y1), fresh.inverse(y1))


def test_every_bijector_class_has_a_registered_example():
    modules = [importlib.import_module(f"dgm.models.flows.{m.name}") for m in pkgutil.iter_modules(flows.__path__)]
    classes = {c for mod in modules for _, c in inspect.getmembers(mod, inspect.isclass)
               if issubclass(c, Bijector) and c is not Bijector}
    covered = {type(m) for name in bijectors.names() for m in bijectors.get(name)(SHAPE).modules()}
    missing = {c.__name__ for c in classes} - {c.__name__ for c in covered}
    assert not missing, f"bijectors without a registered example: {sorted(missing)}"


def test_actnorm_initialises_from_data_once():
    a = ActNorm(3)
    x = torch.randn(64, 3, 5, 5) * torch.tensor([2.0, 0.5, 3.0])[:, None, None] + 4.0
    y, _ = a(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    assert bool(a.initialized) and "initialized" in a.state_dict()
    before = a.log_scale.detach().clone()
    a(x * 10)  # a second batch does not re-initialise
    assert torch.equal(a.log_scale.detach(), before)
    loaded = ActNorm(3)
    loaded.load_state_dict(a.state_dict())
    loaded(x * 10)
    assert torch.equal(loaded.log_scale.detach(), before)
