"""DCGAN training speed: dgm's Trainer vs a plain loop written the way PyTorch-GAN's dcgan.py is, side by side
in one process, same networks, same data (MNIST at 32x32), batch 64, Adam 2e-4 (0.5, 0.999).

    PYTHONPATH=src python3 benchmarks/gan_speed.py                               # 3 rounds x 20 s a side
    PYTHONPATH=src python3 benchmarks/gan_speed.py --round-s 3 --rounds 1 --no-record   # smoke test

Sides, alternated round by round (the order rotates) and summarised by their median iterations/s (one
iteration = one discriminator and one generator update on one batch):
- ``dgm``: ``dgm.train.Trainer`` on the "dcgan" preset; the dataset is one uint8 tensor padded once to 32x32,
  batches are index slices; losses from logits; fused Adam; D's weights get no gradient in G's step.
- ``reference``: PyTorch-GAN's recipe (eriklindernoren/PyTorch-GAN, implementations/dcgan/dcgan.py) without
  torchvision, which is not installable here: a ``torch.utils.data.Dataset`` whose ``__getitem__`` makes a
  PIL image of one digit, resizes it to 32x32 (bilinear) and normalises it with NumPy to [-1, 1]; a
  ``DataLoader`` (batch 64, shuffle, no workers, as in that script); sigmoid on D's output and ``nn.BCELoss``;
  default (non-fused) Adam; G's step first, then D's step on the same generated batch (detached).
- optional sides, dgm's Trainer with its CPU speed options (e.g. ``--sides dgm,reference,dgm_bf16_cl``):
  ``dgm_bf16`` (``precision=bf16``: bf16 autocast forward passes), ``dgm_cl`` (``channels_last``: weights and
  batches in oneDNN's native NHWC layout) and ``dgm_bf16_cl`` (both).
Every side starts from copies of the same freshly initialised generator and discriminator (dgm's DCGAN nets).
Prints one JSON line last with every side's figures and the ratio dgm / reference.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys

import common  # first: puts src/ on sys.path when needed
import gan_common
import numpy as np
import torch
from PIL import Image
from torch import nn

import dgm.data
import dgm.models as m
import dgm.train as t
from dgm.data.transforms import resize_dataset

SIDES = ("dgm", "reference")
OPTIONAL = {"dgm_bf16": {"precision": "bf16"}, "dgm_cl": {"channels_last": True},
            "dgm_bf16_cl": {"precision": "bf16", "channels_last": True}}  # dgm's trainer options per side


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--round-s", type=float, default=20.0, help="timed seconds per side per round")
    p.add_argument("--warmup-steps", type=int, default=10, help="untimed iterations at the start of each round")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data", default="mnist", help="mnist (60k, needs the data directory) or mnist-10k (bundled)")
    p.add_argument("--sides", default=",".join(SIDES), help="comma-separated: dgm, reference, and optionally "
                   "dgm_bf16 (bf16 autocast), dgm_cl (channels-last) or dgm_bf16_cl (both)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="smoke test: nothing appended to benchmarks/results")
    return p.parse_args(argv)


class PILDigits(torch.utils.data.Dataset):
    """Per-sample transforms as torchvision's MNIST + Resize(32) + ToTensor + Normalize([0.5], [0.5])."""

    def __init__(self, images: torch.Tensor, size: int = 32):
        self.images, self.size = images[:, 0].numpy(), size  # (N, 28, 28) uint8

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = Image.fromarray(self.images[i], mode="L").resize((self.size, self.size), Image.BILINEAR)
        x = np.asarray(img, dtype=np.float32) / 255.0
        return torch.from_numpy((x - 0.5) / 0.5)[None]  # (1, 32, 32) in [-1, 1]


class ReferenceSide:
    """The PyTorch-GAN loop over copies of dgm's DCGAN networks."""

    def __init__(self, generator: nn.Module, critic: nn.Module, train, args, latent_dim: int):
        self.g, self.d = copy.deepcopy(generator).train(), copy.deepcopy(critic).train()
        self.args, self.latent_dim = args, latent_dim
        self.loader = torch.utils.data.DataLoader(PILDigits(train.data), batch_size=args.batch_size, shuffle=True,
                                                  drop_last=True)
        self.batches = iter(self.loader)
        self.loss = nn.BCELoss()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.d(x).logits)[:, None]  # (B, 1) probabilities, as that script's D returns

    def next_batch(self) -> torch.Tensor:
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def round(self) -> float:
        clock = gan_common.Clock(self.args.round_s, warmup=self.args.warmup_steps)
        done = False
        while not done:
            imgs = self.next_batch()
            valid = torch.ones(imgs.shape[0], 1)
            fake = torch.zeros(imgs.shape[0], 1)
            self.opt_g.zero_grad()
            z = torch.randn(imgs.shape[0], self.latent_dim)
            gen_imgs = self.g(z)
            g_loss = self.loss(self.discriminate(gen_imgs), valid)
            g_loss.backward()
            self.opt_g.step()
            self.opt_d.zero_grad()
            real_loss = self.loss(self.discriminate(imgs), valid)
            fake_loss = self.loss(self.discriminate(gen_imgs.detach()), fake)
            d_loss = (real_loss + fake_loss) / 2
            d_loss.backward()
            self.opt_d.step()
            done = clock.tick()
        return clock.rate()


class DgmSide:
    def __init__(self, model, data, args, **options):
        self.args = args
        cfg = t.TrainConfig(steps=10**9, batch_size=args.batch_size, lr=2e-4, betas=(0.5, 0.999), seed=0, **options)
        self.trainer = t.Trainer(model, data, cfg, run_dir=None, model_name="dcgan", progress=False)
        self.cfg = cfg

    def round(self) -> float:
        return gan_common.trainer_round(self.trainer, self.cfg, self.args.round_s, self.args.warmup_steps)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    data_dir = common.data_dir() if args.data == "mnist" else None
    train = dgm.data.load(args.data, split="train", data_dir=data_dir, download=False)
    train32 = resize_dataset(train, 32)  # zero-padded once, as uint8
    names = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not {"dgm", "reference"} <= set(names) or set(names) - {*SIDES, *OPTIONAL}:
        sys.exit(f"--sides: need dgm and reference, optionally {list(OPTIONAL)}; got {args.sides!r}")
    t.seed_everything(0)
    model = m.create("dcgan", train32.info, fc_hidden=0)  # the nets of the earlier records (the preset adds FC 1024)
    sides = {"reference": ReferenceSide(model.generator, model.critic, train, args, model.config.latent_dim)}
    sides.update({s: DgmSide(copy.deepcopy(model), train32, args, **OPTIONAL[s]) for s in names if s in OPTIONAL})
    sides["dgm"] = DgmSide(model, train32, args)  # last: the others copied the untrained networks
    rates: dict[str, list[float]] = {s: [] for s in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for s in order:
            rates[s].append(sides[s].round())
            print(f"round {r + 1}/{args.rounds} {s}: {rates[s][-1]:.2f} it/s", file=sys.stderr, flush=True)
    med = {s: statistics.median(v) for s, v in rates.items()}
    ratio = med["dgm"] / med["reference"]
    record = {
        "benchmark": "gan_speed", "metric": "dcgan_speedup_vs_pytorch_gan_loop", "value": round(ratio, 3),
        **{f"{s}_it_per_s": round(v, 2) for s, v in med.items()},
        **{f"{s}_images_per_s": round(v * args.batch_size, 1) for s, v in med.items()},
        **{f"{s[4:]}_speedup_vs_pytorch_gan_loop": round(med[s] / med["reference"], 3) for s in med if s in OPTIONAL},
        "side_options": {s: OPTIONAL[s] for s in names if s in OPTIONAL},
        "rounds": {s: [round(v, 2) for v in rates[s]] for s in names}, "round_s": args.round_s,
        "warmup_steps": args.warmup_steps, "batch_size": args.batch_size, "data": args.data, "image_size": 32,
        "params": {"generator": sum(p.numel() for p in model.generator.parameters()),
                   "discriminator": sum(p.numel() for p in model.critic.parameters())},
        "full_setting": args.rounds >= 3 and args.round_s >= 20 and args.data == "mnist",
        "threads": threads, "load_avg_start": load_start,
    }
    common.emit(record, "gan_speed", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
