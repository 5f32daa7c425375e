"""The GAN's parts as parts: nested config sections, the documented mapping from the first versions' flat names
(configs, --set values and checkpoints keep loading), registered penalties / regularisers / tricks with their own
weight and schedule, and a new part being one class plus a registry line."""
import pytest
import torch

from dgm.config import from_dict, merge_values, to_dict
from dgm.errors import ConfigError
from dgm.models import Batch, build_config, create
from dgm.models.gan import GANConfig
from dgm.models.gan.config import FLAT_NAMES
from dgm.models.gan.parts import Step, Term, penalties
from dgm.models.gan.penalties import input_gradient_norms

# the first versions' flat config (every field, as their checkpoints stored it) with non-default values, and
# where each value lives now
FLAT = {"architecture": "dcgan", "latent_dim": 32, "mlp_hidden": [64], "mlp_hidden_d": None, "channels": 16,
        "fc_hidden": 128, "d_norm": "layer", "attention": True, "spectral_norm": "discriminator", "init": "xavier",
        "g_conditioning": "concat", "d_conditioning": "auxiliary", "aux_weight": 0.5, "info_categorical": 4,
        "info_continuous": 1, "info_weight": 2.0, "info_continuous_weight": 0.2, "objective": "least-squares",
        "n_critic": 3, "lr_d": 1e-4, "lr_g": 2e-4, "clip": 0.05, "gp_weight": 5.0, "r1_weight": 0.0,
        "r2_weight": 2.0, "r_every": 4, "ortho_weight": 1e-4, "hist_weight": 0.0, "feature_matching": 0.3,
        "label_smoothing": 0.1, "instance_noise": 0.2, "instance_noise_steps": 500, "minibatch_std": True,
        "minibatch_kernels": 3, "unroll_steps": 2, "unroll_optimizer": "adam", "unroll_lr": 0.1,
        "unroll_second_order": False}
NESTED = {
    "latent_dim": 32, "objective": "least-squares",
    "networks": {"architecture": "dcgan", "mlp_hidden": [64], "mlp_hidden_d": None, "channels": 16, "fc_hidden": 128,
                 "d_norm": "layer", "attention": True, "spectral_norm": "discriminator", "init": "xavier",
                 "mapping_layers": 8, "style_mixing": 0.9, "g_norm": "batch"},  # (fields the flat versions did not have: defaults)
    "conditioning": {"generator": "concat", "discriminator": "auxiliary", "aux_weight": 0.5},
    "codes": {"categorical": 4, "continuous": 1, "weight": 2.0, "continuous_weight": 0.2},
    "schedule": {"n_critic": 3, "lr_d": 1e-4, "lr_g": 2e-4, "unroll_steps": 2, "unroll_optimizer": "adam",
                 "unroll_lr": 0.1, "unroll_second_order": False, "grow_images": 0},
    # r1 and hist at weight 0 are off; r_every reaches the R penalty that is on
    "penalties": {"clip": {"bound": 0.05}, "gp": {"weight": 5.0, "every": 1, "start": 0},
                  "r2": {"weight": 2.0, "every": 4, "start": 0}},
    "regularisers": {"feature_matching": {"weight": 0.3, "every": 1, "start": 0},
                     "ortho": {"weight": 1e-4, "every": 1, "start": 0}},
    "tricks": {"instance_noise": {"std": 0.2, "anneal_steps": 500}, "label_smoothing": {"amount": 0.1},
               "minibatch_std": {}, "minibatch_discrimination": {"kernels": 3, "dim": 5}},
}


def test_a_flat_config_of_the_first_versions_loads_into_the_sections():
    assert set(FLAT) - {"latent_dim", "objective"} == set(FLAT_NAMES)  # the table covers every old field
    config = from_dict(GANConfig, FLAT)
    assert to_dict(config) == NESTED
    assert from_dict(GANConfig, NESTED) == config
    assert list(config.tricks) == ["instance_noise", "label_smoothing", "minibatch_std", "minibatch_discrimination"]


def test_flat_names_turn_parts_off_and_merge_over_presets():
    assert "gp" not in build_config("wgan-gp", {"gp_weight": 0}).penalties
    assert "gp" not in build_config("wgan-gp", {"penalties.gp": None}).penalties
    assert "clip" not in build_config("wgan", {"clip": None}).penalties
    assert build_config("wgan", {"clip": None}).schedule.n_critic == 5  # the rest of the preset stays
    # a setting merges into the preset's part instead of replacing it
    assert build_config("wgan-gp", {"penalties.gp.every": 4}).penalties["gp"] == {"weight": 10.0, "every": 4, "start": 0}
    assert build_config("wgan-gp", {"r_every": 16}).penalties == {"gp": {"weight": 10.0, "every": 1, "start": 0}}
    later_wins = merge_values(GANConfig, {"penalties": {"r1": {"weight": 1.0}}}, {"r1_weight": 3.0})
    assert from_dict(GANConfig, later_wins).penalties["r1"]["weight"] == 3.0


def test_unknown_parts_and_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown GAN penalty 'gpp'; did you mean 'gp'"):
        build_config("dcgan", {"penalties.gpp.weight": 1})
    with pytest.raises(ConfigError, match="unknown config key 'penalties.r1.wieght'"):
        build_config("dcgan", {"penalties": {"r1": {"wieght": 1}}})
    with pytest.raises(ConfigError, match="weight must be >= 0"):
        build_config("dcgan", {"regularisers.ortho.weight": -1})
    with pytest.raises(ConfigError, match="unknown config key 'gp_wieght'; did you mean 'gp_weight'"):
        build_config("dcgan", {"gp_wieght": 1})


def d_grad_sq(model, x):
    """E ||grad_x D(x)||^2, computed here independently of the penalty code."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model.critic(x).logits.sum(), x)
    return g.flatten(1).pow(2).sum(1).mean()


def test_a_lazy_term_applies_every_k_steps_from_its_start_scaled_by_k(mnist64, tiny_gan):
    torch.manual_seed(0)
    model = tiny_gan("dcgan", mnist64.info, **{"penalties.r1": {"weight": 10.0, "every": 4, "start": 8}})
    model.train()
    x = model.prepare(mnist64.data[:8], torch.Generator().manual_seed(0))
    for step, on in ((4, False), (8, True), (9, False), (12, True)):
        out = model.loss(Batch(x, None, step=step), "discriminator")
        assert ("r1" in out) == on, step
        if on:  # gamma / 2 * k * E ||grad D||^2
            torch.testing.assert_close(out["r1"], 10.0 / 2 * 4 * d_grad_sq(model, x), rtol=1e-4, atol=1e-6)


def test_historical_averaging_keeps_its_old_checkpoint_names(mnist64, tiny_gan):
    model = tiny_gan("dcgan", mnist64.info, hist_weight=0.5)
    hist = model.regularisers["hist"]
    with torch.no_grad():
        hist.discriminator.mean0.add_(1.0)
        hist.generator.count.fill_(7)
    old_names = {k.replace("regularisers.hist.discriminator.", "hist_d.").replace("regularisers.hist.generator.",
                                                                                  "hist_g."): v.clone()
                 for k, v in model.state_dict().items()}
    assert "hist_d.mean0" in old_names and "hist_g.count" in old_names
    fresh = tiny_gan("dcgan", mnist64.info, hist_weight=0.5)
    fresh.load_state_dict(old_names)  # strict: every old name found its place
    torch.testing.assert_close(fresh.regularisers["hist"].discriminator.mean0, hist.discriminator.mean0)
    assert int(fresh.regularisers["hist"].generator.count) == 7


class _MeanLogitSquared(Term):
    """A made-up penalty: weight * E D(x)^2 on real data."""

    def value(self, player: str, ctx: Step) -> torch.Tensor:
        return ctx.real_out.logits.pow(2).mean()


def test_a_new_penalty_is_one_class_and_a_registry_line(mnist64, tiny_gan):
    penalties.register("logit_l2", help="test only")(_MeanLogitSquared)
    try:
        with pytest.raises(ConfigError, match="unknown config key 'penalties.logit_l2.bound'"):
            build_config("dcgan", {"penalties.logit_l2.bound": 1})
        model = tiny_gan("dcgan", mnist64.info, **{"penalties.logit_l2.weight": 2.0, "networks.d_norm": "none"})
        x = model.prepare(mnist64.data[:8], torch.Generator().manual_seed(0))
        out = model.loss(Batch(x, None, step=0), "discriminator")
        torch.testing.assert_close(out["logit_l2"], 2.0 * model.critic(x).logits.pow(2).mean().detach())
        torch.testing.assert_close(out["loss"], out["adv"] + out["logit_l2"])
        assert "logit_l2" not in model.loss(Batch(x, None, step=0), "generator")
    finally:
        penalties.unregister("logit_l2")


def test_gradient_norm_helper_matches_the_independent_one(mnist64, tiny_gan):
    model = tiny_gan("dcgan", mnist64.info, d_norm="none")
    x = model.prepare(mnist64.data[:8])
    norms = input_gradient_norms(lambda v: model.critic(v).logits, x)
    torch.testing.assert_close(norms.pow(2).mean(), d_grad_sq(model, x), rtol=1e-5, atol=1e-7)


def test_create_with_a_config_and_flat_values(mnist64):
    config = build_config("wgan-gp", {"channels": 8, "latent_dim": 8})
    model = create("wgan-gp", mnist64.info, config, gp_weight=3.0)
    assert model.config.penalties["gp"]["weight"] == 3.0 and model.config.networks.channels == 8


def test_resume_compares_flat_and_nested_names_of_the_same_setting(tmp_path, capsys):
    """A run trained with the nested name resumes with the flat one (the same setting) and refuses a different
    value under either name, naming the setting."""
    from dgm.cli.main import main

    run = tmp_path / "run"
    tiny = ["--set", "model.channels=8", "--set", "model.latent_dim=8", "--no-progress", "--batch-size", "8",
            "--data", "mnist-10k"]
    assert main(["train", "wgan-gp", "--steps", "2", "--out", str(run), "--set", "model.penalties.gp.weight=5",
                 *tiny]) == 0
    assert "penalties:\n    gp:\n      weight: 5.0\n      every: 1\n      start: 0\n" in (run / "config.yaml").read_text()
    assert main(["train", "wgan-gp", "--steps", "3", "--resume", str(run), "--set", "model.gp_weight=5", *tiny]) == 0
    capsys.readouterr()
    assert main(["train", "wgan-gp", "--steps", "4", "--resume", str(run), "--set", "model.gp_weight=6", *tiny]) != 0
    assert "config mismatch: penalties.gp.weight 5.0 (checkpoint) != 6.0 (requested)" in capsys.readouterr().err
