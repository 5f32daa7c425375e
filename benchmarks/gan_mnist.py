"""GANs on MNIST (60,000 training images) for a wall-clock budget: sample quality by the bundled classifier.

    PYTHONPATH=src python3 benchmarks/gan_mnist.py --model dcgan                 # 900 s training + ~1 min eval
    PYTHONPATH=src python3 benchmarks/gan_mnist.py --model acgan
    PYTHONPATH=src python3 benchmarks/gan_mnist.py --model dcgan --budget-s 10 --n-samples 500 --no-record

Models: dcgan, wgan-gp, sngan, hinge-gan, cgan, acgan, infogan, each with its preset and its paper's
optimiser settings (batch size, learning rates, n_critic). After training, 10,000 samples (seed 1234; the
EMA weights when the preset keeps them) are scored with the bundled MNIST classifier ("mnist-cnn"):
FID against the 10,000 test images in its 128-d feature space, Inception Score from its class
probabilities, and the histogram of predicted digits (modes covered, min/max share). Conditional models
(cgan, acgan) sample each digit 1,000 times and report how often the classifier agrees with the requested
label; InfoGAN samples each value of its 10-way code 1,000 times and reports the accuracy of the best
one-to-one mapping from code to predicted digit (Hungarian algorithm, scipy). When the classifier's weights
are missing the metrics are skipped and the record says so. A 10x10 grid (one column per label/code for
the conditional models and InfoGAN) goes to benchmarks/results/gan_mnist_<model>.png. Prints one JSON line
last.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import gan_common
import torch
import yaml

import dgm.data
from dgm.errors import DgmError
from dgm.metrics.evaluate import quality_record
from dgm.metrics.features import load_feature_net
from dgm.viz import save_grid

MODELS = ("dcgan", "wgan-gp", "sngan", "hinge-gan", "cgan", "acgan", "infogan")
FULL = {"budget_s": 900.0, "n_samples": 10_000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=MODELS, default="dcgan")
    p.add_argument("--budget-s", type=float, default=FULL["budget_s"], help="training wall-clock budget")
    p.add_argument("--max-steps", type=int, default=None, help="also stop after this many steps")
    p.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    p.add_argument("--n-samples", type=int, default=FULL["n_samples"], help="samples scored (multiple of 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: autocast forward passes")
    p.add_argument("--channels-last", action="store_true", help="channels-last weights and batches")
    p.add_argument("--ema-decay", type=float, default=None, help="keep an EMA of the weights and sample from it")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config value of the preset, e.g. channels=32 (repeatable)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a new folder under /tmp)")
    p.add_argument("--no-record", action="store_true",
                   help="smoke test: nothing appended to benchmarks/results; the grid goes to the run dir")
    return p.parse_args(argv)


def model_values(pairs: list[str]) -> dict:
    """["channels=32", ...] -> {"channels": 32, ...} (values parsed as YAML scalars)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"--set {pair!r}: expected KEY=VALUE, e.g. channels=32")
        out[key.strip()] = yaml.safe_load(value)
    return out


def best_mapping_accuracy(codes: torch.Tensor, predicted: torch.Tensor, k: int = 10) -> tuple[float, list[int]]:
    """Accuracy of the best one-to-one map code -> digit (Hungarian algorithm on the confusion counts)."""
    from scipy.optimize import linear_sum_assignment

    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((codes, predicted), torch.ones_like(codes), accumulate=True)
    rows, cols = linear_sum_assignment(-confusion.numpy())
    return float(confusion[rows, cols].sum()) / len(codes), [int(c) for c in cols]


def evaluate(model, name: str, test, n: int, record: dict) -> torch.Tensor:
    """Sample n images (labels / codes cycling 0..9 where the model has them) and score them; returns them."""
    gen = torch.Generator().manual_seed(1234)
    cycle = torch.arange(n) % 10
    options = {"labels": cycle} if model.num_classes else {"code": cycle} if model.categories else {}
    with torch.no_grad():
        samples = torch.cat([model.sample(min(500, n - i), generator=gen,
                                          **{k: v[i:i + 500] for k, v in options.items()})
                             for i in range(0, n, 500)])
    try:
        net = load_feature_net("mnist-cnn")
    except DgmError as e:
        record["metrics_skipped"] = f"bundled classifier mnist-cnn unavailable: {e}"
        return samples
    t0 = time.perf_counter()
    q = quality_record(samples, test, net, ["fid", "is", "classes"], seed=0)
    record.update({"value": round(q["fid"], 3), "fid": round(q["fid"], 3), "is": q["is"], "classes": q["classes"],
                   "protocol": q["protocol"]})
    if options:
        predicted = net(samples)[1].argmax(1)
        if model.num_classes:
            record["label_agreement"] = round(float((predicted == cycle).double().mean()), 4)
        else:
            acc, mapping = best_mapping_accuracy(cycle, predicted)
            record["infogan_code_accuracy"] = round(acc, 4)
            record["infogan_code_to_digit"] = mapping
    record["eval_s"] = round(time.perf_counter() - t0, 1)
    return samples


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.n_samples % 10:
        sys.exit("--n-samples must be a multiple of 10")
    threads = common.set_threads(args.threads)
    load_start = common.warn_if_busy(threads)
    data = common.data_dir()
    train = dgm.data.load("mnist", split="train", data_dir=data, download=False)
    test = dgm.data.load("mnist", split="test", data_dir=data, download=False)
    run_dir = args.out or Path(tempfile.mkdtemp(prefix=f"dgm-bench-{args.model}-"))
    overrides = {"batch_size": args.batch_size} if args.batch_size else {}
    overrides.update(precision=args.precision, channels_last=args.channels_last)
    if args.ema_decay:
        overrides["ema_decay"] = args.ema_decay
    values = model_values(args.set)
    variant = [n for n, on in (("bf16", args.precision == "bf16"), ("channels-last", args.channels_last)) if on]
    variant += ([f"ema {args.ema_decay:g}"] if args.ema_decay else []) + [f"{k}={v}" for k, v in values.items()]
    print(f"training {args.model} on MNIST for {args.budget_s:g} s on {threads} threads; run dir {run_dir}",
          file=sys.stderr, flush=True)
    trainer, summary = gan_common.train_for(args.model, train, args.budget_s, max_steps=args.max_steps,
                                            seed=args.seed, run_dir=run_dir, train_overrides=overrides,
                                            model_values=values)
    model = trainer.sampling_model.eval()
    record = {"benchmark": "gan_mnist", "metric": "fid_mnist_cnn", "value": None, "model": args.model,
              **({"variant": f"{args.model} ({', '.join(variant)})"} if variant else {})}
    samples = evaluate(model, args.model, test, args.n_samples, record)
    grid_dir = run_dir if args.no_record else common.RESULTS
    stem = "_".join([args.model, *variant]).replace(" ", "")
    grid = save_grid(samples[:100], grid_dir / f"gan_mnist_{stem}.png", nrow=10)
    record.update({
        # the setting is "within 15 minutes": a shorter budget on the full data still qualifies
        "full_setting": args.budget_s <= FULL["budget_s"] and args.n_samples == FULL["n_samples"]
        and args.max_steps is None,
        "n_samples": args.n_samples, "budget_s": args.budget_s, **{k: v for k, v in summary.items() if k != "last"},
        "epochs": round(summary["steps"] * summary["batch_size"] / len(train), 2),
        "train_last": summary["last"], "ema": trainer.ema is not None,
        "train_settings": {k: v for k, v in vars(trainer.config).items()
                           if k in ("optimizer", "lr", "betas", "batch_size", "ema_decay", "precision",
                                    "channels_last")},
        "model_config": {k: v for k, v in vars(model.config).items()
                         if k in ("objective", "n_critic", "lr_d", "lr_g", "gp_weight", "clip", "spectral_norm", "channels",
                                  "latent_dim")},
        "params": {"generator": sum(p.numel() for p in model.generator.parameters()),
                   "discriminator": sum(p.numel() for p in model.critic.parameters())},
        "seed": args.seed, "threads": threads, "load_avg_start": load_start, "run_dir": str(run_dir),
        "artifacts": [common.rel(grid)],
    })
    common.emit(record, "gan_mnist", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
