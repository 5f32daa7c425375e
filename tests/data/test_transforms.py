"""Batch transforms: ranges, statistics and shapes."""
import torch

from dgm.data import input_transforms
from dgm.data.dataset import DatasetInfo, ImageDataset, epoch_order
from dgm.data.transforms import binarize, dequantize, pad_to, random_hflip, resize_dataset, to_symmetric, to_unit


def test_unit_and_symmetric_ranges():
    x = torch.tensor([0, 128, 255], dtype=torch.uint8)
    torch.testing.assert_close(to_unit(x), torch.tensor([0.0, 128 / 255, 1.0]))
    torch.testing.assert_close(to_symmetric(x), torch.tensor([-1.0, 128 / 127.5 - 1, 1.0]))


def test_dequantize_stays_in_its_bin():
    x = torch.randint(0, 256, (1000,), dtype=torch.uint8)
    d = dequantize(x, torch.Generator().manual_seed(0))
    assert (d >= x.float() / 256).all() and (d < (x.float() + 1) / 256).all()


def test_dynamic_binarisation_mean_and_fixed_binary_data():
    p = torch.full((200_000,), 0.3)
    assert abs(binarize(p, torch.Generator().manual_seed(0)).mean().item() - 0.3) < 0.005
    from dgm.models import create

    # whether data is binary comes from the dataset's metadata, never from a batch's values: a dark 8-bit
    # batch holding only 0s and 1s is still binarised (value 1 is p = 1/255), stored 0/1 data is kept
    zeros_and_ones = torch.randint(0, 2, (400, 1, 3, 3), dtype=torch.uint8)
    eight_bit = create("vae", DatasetInfo("d", "train", (1, 3, 3), kind="image"), hidden=(4,), latent_dim=2)
    binary = create("vae", DatasetInfo("b", "train", (1, 3, 3), kind="binary"), hidden=(4,), latent_dim=2)
    assert eight_bit.input_transform == binary.input_transform == "binary"
    assert eight_bit.prepare(zeros_and_ones, torch.Generator().manual_seed(0)).mean() < 0.01
    assert torch.equal(binary.prepare(zeros_and_ones, torch.Generator().manual_seed(0)), zeros_and_ones.float())
    assert torch.equal(input_transforms.get("binary")(zeros_and_ones.float(), None, True), zeros_and_ones.float())


def test_hflip_flips_about_half_and_exactly():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3).repeat(500, 1, 1, 1)
    y = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = (y != x).flatten(1).any(1)
    assert 0.4 < flipped.float().mean() < 0.6
    assert torch.equal(y[flipped], x[flipped].flip(-1))


def test_pad_and_resize_dataset():
    info = DatasetInfo("t", "train", (1, 28, 28))
    ds = ImageDataset(torch.full((3, 1, 28, 28), 200, dtype=torch.uint8), None, info)
    padded = resize_dataset(ds, 32)
    assert padded.data.shape == (3, 1, 32, 32) and padded.data[0, 0, 0, 0] == 0 and padded.data[0, 0, 2, 2] == 200
    assert padded.info.shape == (1, 32, 32)
    small = resize_dataset(ds, 14)
    assert small.data.shape == (3, 1, 14, 14) and small.data.dtype == torch.uint8
    assert pad_to(torch.zeros(1, 1, 28, 28), 32).shape == (1, 1, 32, 32)


def test_epoch_order_is_a_pure_function():
    assert torch.equal(epoch_order(100, 3, 5), epoch_order(100, 3, 5))
    assert not torch.equal(epoch_order(100, 3, 5), epoch_order(100, 3, 6))
    assert sorted(epoch_order(100, 3, 5).tolist()) == list(range(100))
