"""Behavioural contracts of every registered GAN preset, composed as the preset composes it: a discriminator
step moves D towards telling real from fake, a generator step moves D(G(z)) towards "real", each configured
penalty and regulariser enters the loss with its configured weight, and each constraint (spectral norm,
weight clipping) is applied to the network its paper puts it on. These catch wiring bugs the unit tests of
the parts cannot: real and fake swapped at the call site, a weight multiplied in the log but not the loss,
spectral norm built on the wrong network."""
import pytest
import torch
import torch.nn.utils.parametrize  # noqa: F401  (is_parametrized)

from dgm.models import Batch, models
from dgm.models.gan import GAN
from dgm.models.gan.parts import SECTIONS, Term
from dgm.models.gan.regularisers import matrix_weights, orthogonal_penalty
from dgm.nn.spectral import WEIGHT_LAYERS

GAN_NAMES = [n for n in models.names() if models.get(n).cls is GAN]
# every registered loss term, for each player it acts on: (section, part, player)
TERMS = [(section, name, player) for section in ("penalties", "regularisers")
         for name in SECTIONS[section].names() if issubclass(SECTIONS[section].get(name), Term)
         for player in SECTIONS[section].get(name).players]


def fixed_latents(model, n, labels):
    """Draw latents once and make every later draw of the model return them, so that D's and G's losses see
    exactly the fakes the test measures."""
    lat = model.draw(n, labels=labels, generator=torch.Generator().manual_seed(1))
    model.draw = lambda n, labels=None, generator=None, **options: lat
    return lat


def setup(name, mnist64, tiny_gan, **values):
    model = tiny_gan(name, mnist64.info, **values)
    model.train()
    model.after_optimizer_step("discriminator")  # WGAN: the critic as training leaves it (clipped), not as built
    x = model.prepare(mnist64.data[:32], torch.Generator().manual_seed(0))
    y = mnist64.labels[:32]
    lat = fixed_latents(model, 32, y if model.num_classes else None)
    return model, Batch(x, y, step=0), lat


def directional_derivative(objective, loss, params):
    """d objective / d t along the steepest descent direction of ``loss`` (a small gradient step's effect)."""
    g_obj = torch.autograd.grad(objective, params, allow_unused=True)
    g_loss = torch.autograd.grad(loss, params, allow_unused=True)
    return sum(float((a * -b).sum()) for a, b in zip(g_obj, g_loss) if a is not None and b is not None)


def without_penalties(name):
    """The preset without its penalty and regulariser terms (their own tests are below); constraints (weight
    clipping) stay."""
    return {section: {part: None for s, part, _ in TERMS if s == section} for section in ("penalties", "regularisers")}


@pytest.mark.parametrize("name", GAN_NAMES)
def test_discriminator_step_increases_the_real_fake_margin(name, mnist64, tiny_gan):
    model, batch, lat = setup(name, mnist64, tiny_gan, **without_penalties(name))
    params = [p for p in model.critic.parameters() if p.requires_grad]
    loss = model.loss(batch, "discriminator")["loss"]  # first: WGAN's loss clips the critic in place
    with torch.no_grad():
        fake = model.generate(lat)
    margin = model.critic(batch.x, batch.y).logits.mean() - model.critic(fake, lat.labels).logits.mean()
    assert directional_derivative(margin, loss, params) > 0, "D's step does not separate real from fake"


@pytest.mark.parametrize("name", GAN_NAMES)
def test_generator_step_increases_d_of_g(name, mnist64, tiny_gan):
    model, batch, lat = setup(name, mnist64, tiny_gan, **without_penalties(name))
    params = [p for p in model.generator.parameters() if p.requires_grad]
    d_of_g = model.critic(model.generate(lat), lat.labels).logits.mean()
    loss = model.loss(batch, "generator")["loss"]
    assert directional_derivative(d_of_g, loss, params) > 0, "G's step does not make its samples look real"


def loss_at(model, batch, group, seed=0):
    torch.manual_seed(seed)  # the penalties draw (interpolation points); the same draws for every weight
    return model.loss(batch, group)


@pytest.mark.parametrize("section, term, group", [t for t in TERMS if t[1] != "hist"])
def test_penalty_enters_the_loss_with_its_weight(section, term, group, mnist64, tiny_gan):
    """loss(w) - loss(0) is linear in w, nonzero, and equals the logged term (historical averaging is 0 at the
    first step by construction: test_gan_penalties covers it)."""
    outs = {}
    for w in (0.0, 50.0, 100.0):  # large: some terms are tiny at initialisation (drift: D(x)^2 ~ 1e-6)
        name = "stylegan2" if term == "path_length" else "dcgan"  # path length needs a style-based generator
        model, batch, _ = setup(name, mnist64, tiny_gan, **{"networks.d_norm": "none", f"{section}.{term}.weight": w,
                                                            f"{section}.{term}.every": 1})
        outs[w] = loss_at(model, batch, group)
    unit = outs[100.0]["loss"] - outs[0.0]["loss"]
    assert abs(float(unit.detach())) > 1e-5
    torch.testing.assert_close(outs[50.0]["loss"] - outs[0.0]["loss"], 0.5 * unit, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(outs[50.0][term], 0.5 * unit, rtol=1e-4, atol=1e-6)
    assert term not in outs[0.0]


@pytest.mark.parametrize("name", GAN_NAMES)
def test_each_configured_penalty_is_in_the_preset_loss(name, mnist64, tiny_gan):
    """Every penalty the preset configures shows up in its group's loss with the preset's weight, and the
    total is the sum of the logged terms."""
    model, batch, _ = setup(name, mnist64, tiny_gan)
    config = model.config
    for group in ("discriminator", "generator"):
        out = loss_at(model, batch, group)
        terms = {k: v for k, v in out.items() if k not in ("loss", "d_real", "d_fake")}
        if terms:
            torch.testing.assert_close(out["loss"], sum(terms.values()), rtol=1e-5, atol=1e-5)
        if group == "discriminator" and "gp" in config.penalties:
            assert float(out["gp"]) > 0
        if group == "generator" and "ortho" in config.regularisers:
            expected = config.regularisers["ortho"]["weight"] * orthogonal_penalty(matrix_weights(model.generator))
            torch.testing.assert_close(out["ortho"], expected.detach(), rtol=1e-5, atol=1e-8)


def spectrally_normalised(module):
    return [m for m in module.modules() if torch.nn.utils.parametrize.is_parametrized(m, "weight")]


@pytest.mark.parametrize("name", GAN_NAMES)
def test_spectral_norm_is_on_the_configured_networks(name, mnist64, tiny_gan):
    model = tiny_gan(name, mnist64.info)
    where = model.config.networks.spectral_norm
    d_layers = [m for m in model.critic.modules() if isinstance(m, WEIGHT_LAYERS)]
    assert (len(spectrally_normalised(model.critic)) == len(d_layers)) == (where in ("discriminator", "both"))
    assert bool(spectrally_normalised(model.generator)) == (where == "both")
    if where != "none":  # the weights D uses have unit largest singular value after power iterations
        model.train()
        x = model.prepare(mnist64.data[:8])
        for _ in range(30):
            model.critic(x, mnist64.labels[:8] if model.num_classes else None)
        for layer in spectrally_normalised(model.critic):
            sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
            assert 0.8 < float(sigma) < 1.05, f"{type(layer).__name__} of D has sigma {float(sigma):.3f}"


@pytest.mark.parametrize("name", GAN_NAMES)
def test_weight_clipping_only_on_the_critic(name, mnist64, tiny_gan):
    from dgm.train import TrainConfig, Trainer

    model = tiny_gan(name, mnist64.info)
    c = model.config.penalties.get("clip", {}).get("bound")
    Trainer(model, mnist64, TrainConfig(steps=2, batch_size=16, lr=0.05, optimizer="adam"), progress=False,
            callbacks=[]).fit()
    d_max = max(float(p.detach().abs().max()) for p in model.critic.parameters())
    g_max = max(float(p.detach().abs().max()) for p in model.generator.parameters())
    if c:
        assert d_max <= c and g_max > c, "clipping belongs to the critic only"
    else:
        assert d_max > 0.01, "an unclipped critic was clipped"
