"""Exact resume on CPU (RELIABILITY.md case 6), config/shape mismatch on load (case 8), and the pieces
resume is made of: optimizer flattening, RNG capture, EMA, load_weights; the CPU speed options (bf16,
channels-last) under training and resume."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from dgm.data.dataset import iterate_batches
from dgm.errors import CheckpointError
from dgm.models import Batch
from dgm.train import checkpoint as ck
from dgm.train import load_weights, read_checkpoint, seed_everything
from dgm.train.ema import EMA
from dgm.train.optim import make_optimizer
from dgm.train.state import capture_rng, flatten_optimizer, restore_rng, unflatten_optimizer

N, K, BATCH = 30, 13, 32  # 250 samples / 32 = 7 batches an epoch: step 13 is in the middle of epoch 1


def state_of(tr) -> dict[str, object]:
    """Everything that must match bitwise between a straight and a resumed run."""
    out = {f"model.{k}": v.clone() for k, v in tr.model.state_dict().items()}
    if tr.ema is not None:
        out.update({f"ema.{k}": v.clone() for k, v in tr.ema.state_dict().items()})
    for name, opt in tr.optimizers.items():
        tensors, meta = flatten_optimizer(name, opt)
        out.update({k: v.clone() for k, v in tensors.items()})
        out[f"optim.{name}.meta"] = meta
    out["rng.torch"] = torch.get_rng_state()
    out["rng.data"] = tr.data_generator.get_state()
    out["rng.python"] = random.getstate()
    out["rng.numpy"] = [np.asarray(x).tolist() for x in np.random.get_state()]
    out["position"] = (tr.step, tr.epoch, tr.batch_in_epoch, tr.nonfinite_total)
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), f"{k} differs"
        else:
            assert a[k] == b[k], f"{k} differs: {a[k]} != {b[k]}"


CASES = {
    # dynamic binarisation (random input transform) + reparameterisation noise
    "vae": ("vae", {}, {}),
    "vae-ema": ("vae", {}, {"ema_decay": 0.99}),
    # masking noise drawn from the global RNG, and running code moments kept in buffers
    "ae-mask": ("ae", {"corruption": "mask"}, {"ema_decay": 0.99, "optimizer": "rmsprop"}),
    "vae-hflip-clip": ("vae", {"activation": "relu"}, {"hflip": True, "grad_clip": 1.0, "optimizer": "adamw"}),
    # two optimizer groups, batch norm running stats, bf16 autocast, and channels-last weights whose Adam
    # moments come back from the checkpoint contiguous (they must be given the weights' strides again)
    "dcgan-bf16-channels-last": ("dcgan", {"channels": 8}, {"precision": "bf16", "channels_last": True}),
    "dcgan": ("dcgan", {"channels": 8}, {}),
    # no optimizer at all: float64 buffers updated by EM, the k-means++ start drawn once (a resume must not redo it)
    "bernoulli-mixture": ("bernoulli-mixture", {"components": 4}, {}),
    # persistent contrastive divergence: the chains (a buffer) and the Gibbs noise carry on across the resume
    "rbm-pcd": ("rbm", {"hidden": 8, "persistent": True, "chains": 10, "cd_k": 2}, {"optimizer": "sgd", "lr": 0.05}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exact_resume_mid_epoch(tmp_path, make_model, make_trainer, case):
    name, model_cfg, train_cfg = CASES[case]
    train_cfg = {"batch_size": BATCH, "seed": 3, **train_cfg}

    # 1. N steps straight
    straight = make_trainer(make_model(name, **model_cfg), steps=N, name=name, **train_cfg)
    straight.fit()
    want = state_of(straight)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        want_samples = straight.sampling_model.eval().sample(8, generator=gen)

    # 2. K steps, save, as a run stopped at K
    first = make_trainer(make_model(name, **model_cfg), run_dir=tmp_path / "run", steps=K, name=name, **train_cfg)
    first.fit()
    assert first.epoch == 1 and 0 < first.batch_in_epoch < len(first.data) // BATCH  # mid-epoch
    path = first.save_checkpoint()
    del first

    # 3. "a new process": scramble every RNG, fresh model and trainer, load, continue to N
    torch.manual_seed(12345)
    random.seed(12345)
    np.random.seed(12345)
    torch.rand(100)
    resumed = make_trainer(make_model(name, seed=99, **model_cfg), steps=N, name=name, **train_cfg)
    ckpt = read_checkpoint(tmp_path / "run")
    assert ckpt.path == path and ckpt.step == K
    resumed.load_state(ckpt)
    assert resumed.step == K and not resumed.started_fresh
    resumed.fit()

    got = state_of(resumed)
    assert_same(want, got)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        got_samples = resumed.sampling_model.eval().sample(8, generator=gen)
    assert torch.equal(want_samples, got_samples)
    # the equality above is between two trained models, not two untouched ones
    init = make_model(name, seed=3, **model_cfg).state_dict()
    assert not any(torch.equal(want[f"model.{k}"], v) for k, v in init.items() if v.is_floating_point() and v.numel() > 1)


def test_resume_across_epoch_boundary_and_twice(tmp_path, make_model, make_trainer):
    """Stops at the end of an epoch (step 7) and again at 20; resumes each time into fresh objects."""
    straight = make_trainer(make_model(), steps=N, ema_decay=0.9)
    straight.fit()
    want = state_of(straight)
    tr = make_trainer(make_model(), run_dir=tmp_path / "run", steps=7, ema_decay=0.9)
    tr.fit()
    assert tr.batch_in_epoch == 7  # the epoch is used up: the next batch starts epoch 1
    tr.save_checkpoint()
    for stop in (20, N):
        torch.manual_seed(stop)
        tr = make_trainer(make_model(seed=stop), run_dir=tmp_path / "run", steps=stop, ema_decay=0.9)
        tr.load_state(read_checkpoint(tmp_path / "run"))
        tr.fit()
        tr.save_checkpoint()
    assert_same(want, state_of(tr))


def test_config_mismatch_names_shapes_and_loads_nothing(tmp_path, make_model, make_trainer):
    src = make_trainer(make_model(latent_dim=4), run_dir=tmp_path / "run", steps=2, ema_decay=0.9)
    src.fit()
    src.save_checkpoint()
    target = make_trainer(make_model(latent_dim=8, seed=5), steps=10, ema_decay=0.9)
    before = {k: v.clone() for k, v in target.model.state_dict().items()}
    ema_before = {k: v.clone() for k, v in target.ema.state_dict().items()}
    ckpt = read_checkpoint(tmp_path / "run")
    with pytest.raises(CheckpointError) as info:
        target.load_state(ckpt)
    msg = str(info.value)
    # the encoder's last layer outputs 2 * latent_dim, the decoder's first layer takes latent_dim
    assert "net.encoder.1.2.weight: shape (8, 16) (checkpoint) != (16, 16) (model)" in msg, msg
    assert "net.encoder.1.2.bias: shape (8,) (checkpoint) != (16,) (model)" in msg, msg
    assert "net.decoder_net.0.weight: shape (16, 4) (checkpoint) != (16, 8) (model)" in msg, msg
    assert str(ckpt.path) in msg and info.value.exit_code == 4
    assert all(torch.equal(before[k], v) for k, v in target.model.state_dict().items())
    assert all(torch.equal(ema_before[k], v) for k, v in target.ema.state_dict().items())
    assert target.step == 0 and target.started_fresh
    assert all(not opt.state for opt in target.optimizers.values())


def test_mismatch_message_names_every_shape(tmp_path, make_model):
    a, b = make_model(latent_dim=4), make_model(latent_dim=8)
    with pytest.raises(CheckpointError) as info:
        load_weights(b, a.state_dict(), "ckpt-x")
    msg = str(info.value)
    mismatched = [k for k, v in b.state_dict().items() if a.state_dict()[k].shape != v.shape]
    assert mismatched
    for k in mismatched[:6]:
        assert (f"{k}: shape {tuple(a.state_dict()[k].shape)} (checkpoint) != "
                f"{tuple(b.state_dict()[k].shape)} (model)") in msg


def test_missing_ema_refused_before_anything_is_loaded(tmp_path, make_model, make_trainer):
    src = make_trainer(make_model(), run_dir=tmp_path / "run", steps=2)
    src.fit()
    src.save_checkpoint()
    target = make_trainer(make_model(seed=5), steps=10, ema_decay=0.9)
    before = {k: v.clone() for k, v in target.model.state_dict().items()}
    with pytest.raises(CheckpointError, match="no EMA weights"):
        target.load_state(read_checkpoint(tmp_path / "run"))
    assert all(torch.equal(before[k], v) for k, v in target.model.state_dict().items())


def test_load_weights_lists_missing_and_unexpected(make_model):
    model = make_model()
    sd = dict(model.state_dict())
    missing = next(iter(sd))
    sd.pop(missing)
    sd["extra.weight"] = torch.zeros(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights(model, sd, "somewhere")
    msg = str(info.value)
    assert f"missing {missing}" in msg and "unexpected extra.weight" in msg and "somewhere" in msg
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- the pieces ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["adam", "adamw", "rmsprop", "sgd"])
def test_optimizer_flatten_round_trip(tmp_path, kind):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    twin.load_state_dict(net.state_dict())
    opt = make_optimizer(net.parameters(), kind, 1e-2, (0.9, 0.99), 1e-4)
    if kind == "adam":
        assert opt.defaults.get("fused")

    def step(model, optimizer, seed):
        x = torch.randn(16, 5, generator=torch.Generator().manual_seed(seed))
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()

    for s in range(3):
        step(net, opt, s)
    tensors, meta = flatten_optimizer("main", opt)
    assert tensors and all(k.startswith("optim.main.") for k in tensors)
    # through the real files (safetensors + JSON), as a checkpoint stores them
    path = ck.write_checkpoint(tmp_path, 3, {}, twin.state_dict(), train_tensors=tensors,
                               train_state={"step": 3, "optimizers": {"main": meta}})
    twin.load_state_dict(net.state_dict())
    got = read_checkpoint(path)
    twin_opt = make_optimizer(twin.parameters(), kind, 1e-2, (0.9, 0.99), 1e-4)
    twin_opt.load_state_dict(unflatten_optimizer("main", got.train_tensors, got.train_state["optimizers"]["main"]))
    a, b = opt.state_dict(), twin_opt.state_dict()
    assert a["state"].keys() == b["state"].keys()
    for idx in a["state"]:
        assert a["state"][idx].keys() == b["state"][idx].keys()
        for key, v in a["state"][idx].items():
            w = b["state"][idx][key]
            assert torch.equal(v, w) and v.dtype == w.dtype if isinstance(v, torch.Tensor) else v == w, (idx, key)
    for s in range(3, 6):  # and they keep stepping identically
        step(net, opt, s)
        step(twin, twin_opt, s)
    for p, q in zip(net.parameters(), twin.parameters()):
        assert torch.equal(p, q)


def test_restore_rng_round_trip_and_missing_piece():
    gen = torch.Generator().manual_seed(1)
    tensors, meta = capture_rng(gen)
    want = (torch.rand(3), torch.rand(3, generator=gen), random.random(), np.random.rand())
    torch.manual_seed(9)
    random.seed(9)
    np.random.seed(9)
    gen2 = torch.Generator().manual_seed(9)
    restore_rng(gen2, tensors, meta)
    assert (torch.equal(torch.rand(3), want[0]) and torch.equal(torch.rand(3, generator=gen2), want[1])
            and random.random() == want[2] and np.random.rand() == want[3])
    for drop in ("rng.torch", "rng.data"):
        with pytest.raises(CheckpointError, match="RNG state is missing or corrupt"):
            restore_rng(gen2, {k: v for k, v in tensors.items() if k != drop}, meta)
    with pytest.raises(CheckpointError, match="RNG state is missing or corrupt"):
        restore_rng(gen2, tensors, {"numpy": meta["numpy"]})


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_ema_decay_outside_the_open_unit_interval_is_refused(decay):
    # 0 would make the EMA a copy of the weights, 1 would freeze it at the initial ones: both are mistakes
    with pytest.raises(ValueError, match=r"ema decay must be in \(0, 1\)"):
        EMA(torch.nn.Linear(2, 2), decay)


def test_ema_update_matches_formula():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    ema = EMA(net, 0.9)
    shadow = {k: v.clone() for k, v in net.state_dict().items()}
    for i in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()
        net(torch.randn(8, 3))  # moves the BatchNorm buffers
        ema.update(net)
        for name, p in net.named_parameters():
            shadow[name] = 0.9 * shadow[name] + 0.1 * p.detach()
        got = ema.state_dict()
        for name, p in net.named_parameters():
            torch.testing.assert_close(got[name], shadow[name], rtol=1e-6, atol=1e-7)
            assert not torch.equal(got[name], p)
        for name, b in net.named_buffers():  # buffers are copied, not averaged
            assert torch.equal(got[name], b)
    assert all(not p.requires_grad for p in ema.model.parameters())
    with pytest.raises(ValueError):
        EMA(net, 1.0)


def test_bf16_channels_last_training_keeps_layout_and_matches_fp32_loosely(make_model, make_trainer):
    """bf16 + channels-last trains a conv GAN with finite losses, conv weights stay channels-last, and its
    first discriminator loss is the fp32 one to bf16 accuracy."""
    fast = make_trainer(make_model("dcgan", channels=8), steps=3, name="dcgan", precision="bf16", channels_last=True)
    plain = make_trainer(make_model("dcgan", channels=8), steps=3, name="dcgan")
    convs = [p for p in fast.model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    logs = fast.fit()
    assert all(np.isfinite(v) for v in logs.values())
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    batch = next(iter_batches(fast))
    seed_everything(5)
    with fast._autocast():
        d_fast = fast.model.loss(batch, "discriminator")["loss"].float()
    seed_everything(5)
    plain.model.load_state_dict(fast.model.state_dict())
    d_plain = plain.model.loss(batch, "discriminator")["loss"]
    assert torch.allclose(d_fast, d_plain, rtol=0.05, atol=0.02)


def iter_batches(tr):
    """The trainer's batches from the start (epoch 0), prepared with a fixed generator."""
    for _, _, x, y in iterate_batches(tr.data, tr.config.batch_size, 0, 0, 0):
        yield Batch(tr.model.prepare(x, torch.Generator().manual_seed(0), True), y, 1)


def test_ema_warmup_ramps_the_decay_and_forgets_the_initial_weights():
    ema = EMA(torch.nn.Linear(2, 2), 0.999)
    assert ema.decay_at(None) == 0.999
    assert [ema.decay_at(t) for t in (0, 10, 90)] == [pytest.approx(0.1), pytest.approx(11 / 20), pytest.approx(0.91)]
    assert ema.decay_at(10**6) == 0.999  # the ramp ends at the configured decay
    with torch.no_grad():
        ema.model.weight.fill_(100.0)  # "initial weights" far from the trained ones
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.zero_()
    for t in range(2000):
        ema.update(net, t)
    # the start keeps weight prod_t (1 + t) / (10 + t) (~1e-24 here); a constant 0.999 would leave 0.999^2000 = 14%
    kept = math.prod((1 + t) / (10 + t) for t in range(2000))
    assert ema.model.weight.abs().max().item() == pytest.approx(100 * kept, rel=1e-3)
