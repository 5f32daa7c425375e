"""Diffusion speed against diffusers on the same machine, side by side in one process: the training step (images
per second) of dgm's Trainer on the YAML's UNet against a plain PyTorch loop over diffusers' ``UNet2DModel`` +
``DDPMScheduler`` configured to the same widths, blocks, attention resolutions and batch; then 64 images by
DDIM-50, dgm's sampler against diffusers' ``DDIMPipeline`` with the same network size.

    PYTHONPATH=src python3 benchmarks/diffusion_speed.py                               # 3 rounds x 20 s a side
    PYTHONPATH=src python3 benchmarks/diffusion_speed.py --round-s 2 --rounds 1 --sample-n 4 --no-record   # smoke

Training sides, alternated round by round (the order rotates) and summarised by their median images/s:
- ``dgm``: ``dgm.train.Trainer`` on the config's model and train settings (configs/ddpm_mnist.yaml: its
  precision and layout, EMA and gradient clipping included), MNIST in memory as uint8.
- ``dgm_fp32``: the same in fp32, contiguous layout (like for like with ``diffusers_fp32``).
- ``diffusers_fp32``: diffusers as its users run it on a CPU: x_0 batches sliced from the same uint8 tensor and
  scaled to [-1, 1], ``DDPMScheduler.add_noise`` at uniform t, ``UNet2DModel(...).sample``, MSE to the noise,
  ``torch.optim.Adam`` at the same lr (no EMA, no clipping: less work than dgm's step).
- ``diffusers_bf16``: the same loop under ``torch.autocast("cpu", torch.bfloat16)``.
Parameter counts of both networks are printed and recorded (the issue asks them within 10%). Sampling: dgm's
``Diffusion.sample(64, sampler="ddim", steps=50)`` against ``DDIMPipeline(unet, DDIMScheduler)(batch_size=64,
num_inference_steps=50)``, fp32, fresh networks of each side (speed does not depend on the weights), the best of
``--sample-rounds``. Prints one JSON line last.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import common  # first: puts src/ on sys.path when needed
import gan_common
import torch
import torch.nn.functional as F
import yaml

import dgm.data
import dgm.models as m
import dgm.train as t
from dgm.config import from_dict

CONFIG = "configs/ddpm_mnist.yaml"
SIDES = ("dgm", "dgm_fp32", "diffusers_fp32", "diffusers_bf16")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=CONFIG)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--round-s", type=float, default=20.0, help="timed seconds per side per round")
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed steps at the start of each round")
    p.add_argument("--sides", default=",".join(SIDES))
    p.add_argument("--sample-n", type=int, default=64, help="images drawn by DDIM-50 on each side")
    p.add_argument("--sample-rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="smoke test: do not append to benchmarks/results")
    return p.parse_args(argv)


def diffusers_unet(cfg, shape: tuple[int, int, int]):
    """diffusers' UNet2DModel with dgm's widths, blocks per level, attention levels, heads and dropout: down
    blocks with attention at the same levels, the same mid block (resnet, attention, resnet), blocks + 1 resnets
    per up level, GroupNorm groups of the base width's count (dgm's: up to 32 groups of >= 4 channels)."""
    from diffusers import UNet2DModel

    from dgm.nn.unet import group_norm

    levels = range(len(cfg.channel_mult))
    widths = tuple(cfg.channels * k for k in cfg.channel_mult)
    down = tuple("AttnDownBlock2D" if lv in cfg.attention_levels else "DownBlock2D" for lv in levels)
    up = tuple("AttnUpBlock2D" if lv in cfg.attention_levels else "UpBlock2D" for lv in reversed(levels))
    return UNet2DModel(sample_size=shape[1], in_channels=shape[0], out_channels=shape[0], block_out_channels=widths,
                       layers_per_block=cfg.blocks, down_block_types=down, up_block_types=up,
                       attention_head_dim=widths[-1] // cfg.heads, norm_num_groups=group_norm(cfg.channels).num_groups,
                       dropout=cfg.dropout)


class DgmSide:
    def __init__(self, data, model_cfg: dict, train_cfg: dict, args, **overrides):
        t.seed_everything(0)
        self.model = m.create("ddpm", data.info, **model_cfg)
        self.cfg = from_dict(t.TrainConfig, {**m.models.get("ddpm").train, **train_cfg, "steps": 10**9,
                                             "time_budget_s": None, "eval_every_s": 0.0, **overrides})
        self.trainer = t.Trainer(self.model, data, self.cfg, run_dir=None, model_name="ddpm", progress=False)
        self.args = args

    def round(self) -> float:
        return gan_common.trainer_round(self.trainer, self.cfg, self.args.round_s, self.args.warmup_steps) * self.cfg.batch_size


class DiffusersSide:
    def __init__(self, data, model_cfg, batch_size: int, lr: float, steps: int, args, bf16: bool = False):
        from diffusers import DDPMScheduler

        torch.manual_seed(0)
        self.unet = diffusers_unet(model_cfg, tuple(data.info.shape)).train()
        self.scheduler = DDPMScheduler(num_train_timesteps=steps, beta_schedule="linear")
        self.opt = torch.optim.Adam(self.unet.parameters(), lr=lr)
        self.images, self.batch, self.bf16, self.args, self.pos = data.data, batch_size, bf16, args, 0

    def round(self) -> float:
        clock = gan_common.Clock(self.args.round_s, warmup=self.args.warmup_steps)
        done = False
        while not done:
            if self.pos + self.batch > len(self.images):
                self.pos = 0
            x0 = self.images[self.pos:self.pos + self.batch].float() / 127.5 - 1
            self.pos += self.batch
            noise = torch.randn_like(x0)
            steps = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x0),))
            noisy = self.scheduler.add_noise(x0, noise, steps)
            with torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
                pred = self.unet(noisy, steps).sample
            loss = F.mse_loss(pred.float(), noise)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            done = clock.tick()
        return clock.rate() * self.batch


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def best_time(fn, rounds: int) -> float:
    """Seconds of the fastest of ``rounds`` calls of ``fn()``."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sampling(data, model_cfg: dict, n: int, rounds: int) -> dict:
    """Seconds for n images by DDIM-50 on each side (fp32, fresh networks)."""
    from diffusers import DDIMPipeline, DDIMScheduler

    torch.manual_seed(0)
    model = m.create("ddpm", data.info, **model_cfg).eval()
    unet = diffusers_unet(model.config, tuple(data.info.shape)).eval()
    pipe = DDIMPipeline(unet=unet, scheduler=DDIMScheduler(num_train_timesteps=model.config.steps,
                                                           beta_schedule="linear"))
    pipe.set_progress_bar_config(disable=True)
    ours = best_time(lambda: model.sample(n, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=50),
                     rounds)
    with torch.no_grad():
        theirs = best_time(lambda: pipe(batch_size=n, num_inference_steps=50, output_type="np",
                                        generator=torch.Generator().manual_seed(0)), rounds)
    return {"n": n, "steps": 50, "dgm_s": round(ours, 2), "diffusers_ddim_pipeline_s": round(theirs, 2),
            "speedup": round(theirs / ours, 2)}


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if set(sides) - set(SIDES):
        sys.exit(f"--sides: choose from {', '.join(SIDES)}; got {args.sides!r}")
    config = yaml.safe_load((common.REPO / args.config).read_text())
    model_cfg, train_cfg = config.get("model", {}), config.get("train", {})
    train = dgm.data.load(config.get("data", {}).get("name", "mnist"), split="train", data_dir=common.data_dir(),
                          download=False)
    probe = m.create("ddpm", train.info, **model_cfg)
    full_train = {**m.models.get("ddpm").train, **train_cfg}
    batch, lr = full_train["batch_size"], full_train["lr"]
    make = {"dgm": lambda: DgmSide(train, model_cfg, train_cfg, args),
            "dgm_fp32": lambda: DgmSide(train, model_cfg, train_cfg, args, precision="fp32", channels_last=False),
            "diffusers_fp32": lambda: DiffusersSide(train, probe.config, batch, lr, probe.config.steps, args),
            "diffusers_bf16": lambda: DiffusersSide(train, probe.config, batch, lr, probe.config.steps, args,
                                                    bf16=True)}
    runners = {s: make[s]() for s in sides}
    counts = {"dgm": params(probe.net), "diffusers": params(diffusers_unet(probe.config, tuple(train.info.shape)))}
    print(f"parameters: dgm {counts['dgm']:,}, diffusers {counts['diffusers']:,}", file=sys.stderr, flush=True)
    rates: dict[str, list[float]] = {s: [] for s in sides}
    for r in range(args.rounds):
        for s in sides[r % len(sides):] + sides[: r % len(sides)]:  # rotate who goes first
            rates[s].append(runners[s].round())
            print(f"round {r + 1}/{args.rounds} {s}: {rates[s][-1]:.1f} images/s", file=sys.stderr, flush=True)
    med = {s: round(statistics.median(v), 2) for s, v in rates.items()}
    ratios = {f"{a}/{b}": round(med[a] / med[b], 2) for a in ("dgm", "dgm_fp32") for b in
              ("diffusers_fp32", "diffusers_bf16") if a in med and b in med}
    sample = sampling(train, model_cfg, args.sample_n, args.sample_rounds)
    dgm_settings = runners["dgm"].cfg if "dgm" in runners else None
    record = {
        "benchmark": "diffusion_speed", "metric": "train_images_per_s_ratio_vs_diffusers_fp32",
        "value": ratios.get("dgm/diffusers_fp32"),
        "variant": f"{args.config}: dgm "
                   f"({dgm_settings.precision if dgm_settings else '?'}"
                   f"{', channels-last' if dgm_settings and dgm_settings.channels_last else ''}) vs diffusers "
                   "UNet2DModel plain loop",
        "config": args.config, "batch_size": batch, "lr": lr, "parameters": counts,
        "parameter_ratio": round(counts["dgm"] / counts["diffusers"], 3),
        "images_per_s": med, "rounds": rates, "ratios": ratios, "sampling_ddim50": sample,
        "goal": "dgm >= 2x diffusers fp32 (training images/s)",
        "full_setting": args.rounds >= 3 and args.round_s >= 20 and args.sample_n == 64,
        "round_s": args.round_s, "threads": threads, "load_avg_start": load_start,
    }
    common.emit(record, "diffusion_speed", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
