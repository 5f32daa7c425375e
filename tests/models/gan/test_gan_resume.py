"""GAN runs resume exactly: n_critic schedules, spectral-norm vectors, EMA, the unrolled path and StyleGAN2 (lazy
terms, the running path length and w_avg, style mixing draws) and ProGAN stopped mid fade-in continue
bit for bit from a checkpoint."""
import pytest
import torch

from dgm.train import TrainConfig, Trainer, read_checkpoint


def run(model, data, steps, run_dir=None, **cfg):
    return Trainer(model, data, TrainConfig(steps=steps, batch_size=16, seed=3, **cfg), run_dir=run_dir,
                   progress=False)


@pytest.mark.parametrize("name, cfg", [("wgan-gp", {}), ("sngan", {"ema_decay": 0.9}), ("unrolled-gan", {}),
                                       ("stylegan2", {"ema_decay": 0.9}), ("progan", {"ema_decay": 0.9}), ("stylegan", {})])
def test_exact_resume(name, cfg, mnist64, ring, tiny_gan, tmp_path):
    data = ring.subset(slice(0, 64)) if name == "unrolled-gan" else mnist64
    # progan: phases of 20 images, so the first run stops in the middle of the first fade-in
    values = {"schedule.grow_images": 20} if name == "progan" else {}
    straight = run(tiny_gan(name, data.info, **values), data, 7, **cfg)
    straight.fit()
    first = run(tiny_gan(name, data.info, **values), data, 3, run_dir=tmp_path, **cfg)
    first.fit()
    if name == "progan":
        assert first.model.generator.state() == (1, pytest.approx(0.6))  # 32 images seen before step 2
    first.save_checkpoint()
    torch.manual_seed(999)  # a "new process": other RNG state, fresh objects
    resumed = run(tiny_gan(name, data.info, **values), data, 7, **cfg)
    resumed.load_state(read_checkpoint(tmp_path))
    resumed.fit()
    want, got = straight.model.state_dict(), resumed.model.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want), [k for k in want if not torch.equal(want[k], got[k])]
    if straight.ema is not None:
        assert all(torch.equal(a, b) for a, b in zip(straight.ema.model.state_dict().values(),
                                                     resumed.ema.model.state_dict().values()))
