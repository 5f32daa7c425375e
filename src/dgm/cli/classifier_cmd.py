"""``dgm train-classifier RUN --out DIR``: the noise-aware classifier that guides a diffusion run's sampling
(``dgm sample RUN --classifier DIR --classifier-scale S``)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from ..config import from_dict
from ..errors import ConfigError
from ..models.base import StepwiseSampler
from ..models.diffusion.classifier import NAME, ClassifierConfig, GuidanceClassifier, for_diffusion, noise_levels
from ..runs import load_run, load_run_data, write_run_config
from ..train import TrainConfig, Trainer, read_checkpoint, seed_everything
from ..train.callbacks import MetricsLogger, PeriodicCheckpoint, ProgressBar
from ..train.checkpoint import clean_stale, committed
from ..train.run_lock import RunLock
from .common import ShownDefaultsFormatter, add_data_dir, add_device, positive_float, positive_int
from .train_cmd import duration, requested_values

log = logging.getLogger("dgm.train")


def add_parser(sub) -> None:
    p = sub.add_parser("train-classifier", help="train a noise-aware classifier for classifier guidance",
                       description="Train the noise-aware classifier p(y | x_t, t) of classifier guidance (Dhariwal "
                       "& Nichol 2021) for the diffusion run RUN: its training data and labels, its noise schedule. "
                       "Then `dgm sample RUN --classifier DIR --classifier-scale S --labels all`.",
                       formatter_class=ShownDefaultsFormatter)
    p.add_argument("run_dir", help="the diffusion run (or checkpoint directory) the classifier will guide")
    p.add_argument("--out", required=True, metavar="DIR", help="the classifier's run directory")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML with sections model: (network sizes) and train:")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. model.channels=64 or train.lr=1e-4 (repeatable)")
    p.add_argument("--steps", type=positive_int, help="optimisation steps (default 5000)")
    p.add_argument("--time-budget", type=duration, metavar="DURATION", help="stop after this much training time")
    p.add_argument("--batch-size", type=positive_int, help="examples per step (default 128)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default 3e-4, AdamW)")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order and noise")
    p.add_argument("--resume", action="store_true", help="continue the classifier in --out from its newest "
                   "checkpoint")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_dir(p)
    add_device(p, default=None)
    p.set_defaults(run=run, epochs=None, data=None)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    diffusion, diff_ckpt = load_run(args.run_dir)
    if not isinstance(diffusion, StepwiseSampler):
        raise ConfigError(f"{args.run_dir} is a {diff_ckpt.config['model']!r} run; classifier guidance is for "
                          "diffusion runs (ddpm, improved-ddpm, ...)")
    model_vals, train_vals, data_vals = requested_values(args)
    if data_vals:
        raise ConfigError("the classifier trains on its diffusion run's data; drop the data settings")
    out = Path(args.out)
    with RunLock(out):
        clean_stale(out / "checkpoints")
        ckpt = None
        if committed(out / "checkpoints"):
            if not args.resume:
                raise ConfigError(f"{out} already holds a classifier; pass --resume to continue it, or another --out")
            ckpt = read_checkpoint(out)
            if ckpt.config.get("model") != NAME:
                raise ConfigError(f"{out} holds a {ckpt.config.get('model')!r} run, not a guidance classifier")
            model_cfg = from_dict(ClassifierConfig, ckpt.config["model_config"])
            train_cfg = from_dict(TrainConfig, {**ckpt.config["train"], **train_vals})
        else:
            model_cfg = for_diffusion(diffusion.config, model_vals)
            train_cfg = from_dict(TrainConfig, {**GuidanceClassifier.default_train, **train_vals})
        data = load_run_data(diff_ckpt, "train", args.data_dir)
        if data.labels is None:
            raise ConfigError(f"{data.info.name} has no labels: a classifier needs them")
        seed_everything(train_cfg.seed)
        model = GuidanceClassifier(model_cfg, data.info)
        callbacks = ([] if args.no_progress else [ProgressBar()]) + [
            MetricsLogger(out, train_cfg.log_every), PeriodicCheckpoint(train_cfg.checkpoint_every)]
        trainer = Trainer(model, data, train_cfg, run_dir=out, model_name=NAME, callbacks=callbacks,
                          data_options=diff_ckpt.config.get("data_options"))
        if ckpt is not None:
            trainer.load_state(ckpt)
        write_run_config(out, {**trainer.checkpoint_config(), "guides": str(args.run_dir)})
        if not trainer.done():
            trainer.fit()
        report = accuracy_report(trainer.sampling_model.eval(), load_run_data(diff_ckpt, "test", args.data_dir))
    (out / "eval.json").write_text(json.dumps(report, indent=2))
    levels = ", ".join(f"t={t}: {a:.3f}" for t, a in report["accuracy_by_t"].items())
    print(f"trained the guidance classifier for {trainer.step} steps in {trainer.clock.seconds():.0f} s; "
          f"test accuracy of x_t at {levels}")
    print(f"classifier: {out}  use: dgm sample {args.run_dir} --classifier {out} --classifier-scale 1 --labels all")
    return 0


def accuracy_report(model: GuidanceClassifier, test, n: int = 2000) -> dict:
    """Accuracy on the first ``n`` test images noised to t = 1, T/4, T/2, 3T/4 (one fixed noise draw)."""
    x0 = model.prepare(test.data[:n], None, train=False)
    labels = test.labels[:n]
    g = torch.Generator().manual_seed(0)
    return {"n": len(x0), "split": test.info.split,
            "accuracy_by_t": {t + 1: round(model.accuracy(x0, labels, t, g), 4)
                              for t in noise_levels(model.config.steps)}}
