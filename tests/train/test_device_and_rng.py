"""Devices and random streams: `--device` resolution (cpu honoured on a machine with a GPU, a clear error
where CUDA is missing), bf16 autocast on the device the batches are on, and a Trainer that never reseeds the
global RNGs. The GPU path itself is verified on a machine that has one (docs/testing.md)."""
import pytest
import torch

import dgm.data
from dgm.errors import ConfigError
from dgm.models import create
from dgm.train import TrainConfig, Trainer
from dgm.train import trainer as trainer_module
from dgm.train.device import resolve_device


@pytest.fixture
def images():
    return dgm.data.load("mnist-10k").subset(slice(0, 64))


def test_building_a_trainer_leaves_the_global_rng_alone(images):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = create("vae", images.info, hidden=(8,), latent_dim=2)
    state = torch.get_rng_state()
    Trainer(model, images, TrainConfig(steps=1, batch_size=16, seed=7), progress=False, callbacks=[])
    assert torch.equal(torch.get_rng_state(), state)
    torch.set_rng_state(state)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), expected)


def test_device_names(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cpu") == torch.device("cpu")  # honoured where a GPU exists
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ConfigError, match="only 1 GPU"):
        resolve_device("cuda:3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="auto, cpu, cuda"):
        TrainConfig(device="gpu")


def test_bf16_autocast_runs_on_the_batch_device(images, monkeypatch):
    """Even where CUDA is available the autocast is the CPU's when the tensors are on the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    seen = []
    real_autocast = torch.autocast

    def spy(device_type, *args, **kwargs):
        seen.append(device_type)
        return real_autocast(device_type, *args, **kwargs)

    monkeypatch.setattr(trainer_module.torch, "autocast", spy)
    model = create("vae", images.info, hidden=(8,), latent_dim=2)
    batches = []
    loss = model.loss
    model.loss = lambda batch, group="main": (batches.append(batch), loss(batch, group))[1]
    tr = Trainer(model, images, TrainConfig(steps=1, batch_size=16, precision="bf16", device="cpu"), progress=False,
                 callbacks=[])
    tr.fit()
    assert seen == ["cpu"] and batches[0].x.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_train_on_a_missing_gpu_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from dgm.cli.main import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["train", "vae", "--steps", "1", "--device", "cuda", "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "--device cpu" in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_cpu_training_flushes_denormals_and_restores_the_default(images):
    """Subnormal floats count as zero during the CPU training loop (callbacks included) and not after it."""
    from dgm.train.callbacks import Callback

    tiny = torch.tensor(1e-39)  # subnormal in fp32
    seen = []

    class Probe(Callback):
        def on_step_end(self, trainer, logs):
            seen.append(float(tiny * 1.0))

    model = create("vae", images.info, hidden=(8,), latent_dim=2)
    Trainer(model, images, TrainConfig(steps=2, batch_size=16), progress=False, callbacks=[Probe()]).fit()
    assert seen == [0.0, 0.0]
    assert float(tiny * 1.0) > 0
