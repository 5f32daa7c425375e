"""The sampling trajectory: every sampler reports x_t before each step, and ``trajectory`` picks frames from
the noise to the sample, the last one the sample ``sample`` draws with the same seed."""
import pytest
import torch

from dgm.data.dataset import DatasetInfo
from dgm.models import create
from dgm.models.diffusion import Diffusion

INFO = DatasetInfo(name="toy", split="train", shape=(1, 6, 6), num_classes=3)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm-solver++"])
def test_trajectory_runs_from_the_noise_to_the_sample(sampler):
    torch.manual_seed(0)
    model = create("ddpm", INFO, **{**Diffusion.tiny, "steps": 20, "sample_steps": 10}).eval()
    frames, times = model.trajectory(3, 5, generator=torch.Generator().manual_seed(2), sampler=sampler, steps=10)
    assert frames.shape == (5, 3, 1, 6, 6) and len(times) == 5
    assert times[0] == 20 and times[-1] == 0 and times == sorted(times, reverse=True)
    noise = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(frames[0], ((noise + 1) / 2).clamp(0, 1))  # x_T is the first draw of the seed
    assert torch.allclose(frames[-1], model.sample(3, generator=torch.Generator().manual_seed(2), sampler=sampler,
                                                   steps=10))
    assert frames.min() >= 0 and frames.max() <= 1
