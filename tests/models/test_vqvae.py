"""VQ-VAE and VQ-VAE-2 specifics: the code grids, the loss as per-example sums, the code frequencies of the
stand-in sampler, reconstruction as the decode of the codes, the bottom codes conditioned on the top, the
reconstruction metric and validation, and `dgm eval --metrics recon` through the command line."""
import json
import math

import pytest
import torch

from dgm.cli.main import main
from dgm.data.dataset import DatasetInfo
from dgm.metrics.reconstruction import reconstruction_error
from dgm.models import Batch, create
from dgm.models.base import Reconstructs
from dgm.train.evaluation import choose_metric

TINY = {"hidden": 8, "res_blocks": 1, "res_hidden": 4, "code_dim": 4, "num_codes": 16}


def _model(name="vqvae", **kw):
    info = DatasetInfo(name="mnist-10k", split="train", shape=(1, 28, 28), num_classes=10)
    return create(name, info, **{**TINY, **kw})


def test_codes_are_a_grid_and_reconstruction_decodes_them():
    model = _model().eval()
    x = torch.rand(3, 1, 28, 28)
    codes = model.encode(x)
    assert codes.shape == (3, 7, 7) and codes.dtype == torch.long and int(codes.max()) < 16
    rec = model.reconstruct(x).detach()
    assert rec.shape == x.shape and 0 <= float(rec.min()) and float(rec.max()) <= 1
    assert torch.allclose(rec, model.decode(codes), atol=1e-6)
    assert isinstance(model, Reconstructs)
    assert _model(downsample=1).encode(x).shape == (3, 14, 14)


def test_loss_sums_the_quantiser_terms_over_one_example_and_counts_codes():
    torch.manual_seed(0)
    model = _model(ema=False, beta=0.25, restart_every=0)
    x = torch.rand(4, 1, 28, 28)
    out = model.loss(Batch(x))
    z = model.encoder(x)
    e = model.quantizer.lookup(model.quantizer(z)[1])
    by_hand = 1.25 * (z - e).pow(2).sum() / 4  # codebook + 0.25 commitment, summed per example, mean over batch
    assert out["vq"].item() == pytest.approx(by_hand.item(), rel=1e-5)
    rec = -model.head.log_prob(model.decoder(e), x).mean()
    assert out["loss"].item() == pytest.approx((rec + by_hand).item(), rel=1e-5)
    assert float(model.code_counts_0.sum()) == 4 * 49  # one code per position of each example, from loss only
    assert 1.0 <= out["perplexity"].item() <= 16 and 0 < out["codes_used"].item() <= 1


def test_stand_in_sampler_draws_the_codes_training_used():
    model = _model().eval()
    model.code_counts_0.zero_()
    model.code_counts_0[..., 3] = 5.0  # only code 3 was ever used, at every position
    images = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 1, 28, 28)
    assert torch.allclose(images, model.decode(torch.full((2, 7, 7), 3)), atol=1e-6)
    assert "no learned prior" in model.sample_semantics({})


def test_vqvae2_has_a_top_and_a_bottom_map_and_the_bottom_sees_the_top():
    model = _model("vqvae2").eval()
    x = torch.rand(2, 1, 28, 28)
    top, bottom = model.encode(x)
    assert top.shape == (2, 7, 7) and bottom.shape == (2, 14, 14)
    assert torch.allclose(model.reconstruct(x), model.decode((top, bottom)), atol=1e-6)
    seen = []
    hook = model.quantizer_bottom.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].clone()))
    model.encode(x)
    with torch.no_grad():
        model.quantizer_top.codebook.add_(3.0)  # other top codes: the bottom quantiser's input changes
    model.encode(x)
    hook.remove()
    assert not torch.allclose(seen[0], seen[1])
    train = _model("vqvae2")
    out = train.loss(Batch(x))
    assert {"perplexity_top", "perplexity_bottom", "codes_used_top", "codes_used_bottom"} <= set(out)
    assert float(train.code_counts_0.sum()) == 2 * 49 and float(train.code_counts_1.sum()) == 2 * 196
    assert train.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 28, 28)


def test_vqvae2_code_usage_is_per_map(mnist_small):
    out = reconstruction_error(_model("vqvae2").eval(), mnist_small.subset(slice(0, 8)))
    assert len(out["codes_used"]) == 2 and len(out["code_perplexity"]) == 2
    assert all(0 < u <= 1 for u in out["codes_used"])


class _Fixed(torch.nn.Module):
    """Reconstructs every image as a constant: the metric's arithmetic by hand."""

    input_transform = "unit"
    device = torch.device("cpu")

    def __init__(self, value):
        super().__init__()
        self.value = value

    def prepare(self, x, generator=None, train=True):
        return x.float() / 255

    def reconstruct(self, x):
        return torch.full_like(x, self.value)


def test_reconstruction_error_by_hand(mnist_small):
    data = mnist_small.subset(slice(0, 30))
    mse = float(((data.data.double() / 255 - 0.25) ** 2).mean())
    out = reconstruction_error(_Fixed(0.25), data, batch_size=7)
    assert out["mse"] == pytest.approx(mse, rel=1e-6) and out["n"] == 30  # float32 pixels, float64 sums
    assert out["psnr_db"] == pytest.approx(10 * math.log10(1 / mse), rel=1e-6)


def test_code_usage_counts_the_codes_the_data_uses(mnist_small):
    model = _model().eval()
    data = mnist_small.subset(slice(0, 10))
    codes = model.encode(model.prepare(data.data, torch.Generator().manual_seed(0), train=False))
    out = reconstruction_error(model, data, batch_size=10, seed=0)
    assert out["codes_used"] == pytest.approx(len(codes.unique()) / 16)
    p = torch.bincount(codes.flatten(), minlength=16).double() / codes.numel()
    assert out["code_perplexity"] == pytest.approx(float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum())), rel=1e-6)


def test_validation_of_a_vqvae_is_its_reconstruction_error(mnist_small):
    model = _model().eval()
    metric = choose_metric(model, mnist_small.subset(slice(0, 20)), n_samples=0)
    assert (metric.name, metric.kind) == ("recon_mse", "reconstruction")
    assert metric.compute(model) == pytest.approx(reconstruction_error(model, mnist_small.subset(slice(0, 20)))["mse"])


def test_train_and_eval_recon_through_the_cli(tmp_path, capsys):
    run = tmp_path / "vq"
    net = [a for k, v in TINY.items() for a in ("--set", f"model.{k}={v}")]
    assert main(["train", "vqvae", "--steps", "3", "--batch-size", "8", "--no-progress", "--out", str(run),
                 "--set", "train.eval_every=2", "--set", "train.eval_n=16", *net]) == 0
    curve = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val/recon_mse" in r for r in curve)
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "recon", "-n", "20", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)["metrics"]["reconstruction"]
    assert rec["n"] == 20 and 0 < rec["mse"] < 1 and rec["psnr_db"] == pytest.approx(10 * math.log10(1 / rec["mse"]))
    assert 0 < rec["codes_used"] <= 1 and 1 <= rec["code_perplexity"] <= 16
    assert main(["eval", str(run), "--metrics", "recon,au", "-n", "20"]) == 2  # a VQ-VAE has no Gaussian codes
