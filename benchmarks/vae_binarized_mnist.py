"""VAE / IWAE on dynamically binarised MNIST in the IWAE paper's setting, trained for 15 minutes through `dgm`;
with a posterior refined by IAF (15 minutes, against the VAE at equal time) and with two stochastic layers
(30 minutes).

The figure (the issue's): 2 hidden layers of 200 tanh units, 50 latents, Bernoulli decoder; test NLL by the
IWAE-5000 bound on the 10k test images. Targets: VAE <= 90 nats and IWAE (k=5 in training) <= 89 nats within
15 minutes of training on 2 CPU threads. Everything the figure needs is in configs/<model>_mnist_15m.yaml;
this script runs

    dgm train MODEL --config configs/MODEL_mnist_15m.yaml --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics elbo,iwae --k 5000 -n 10000 --json

and records the figure with both commands, the validation curve, and the GFLOP/s against this machine's limit.

    PYTHONPATH=src python3 benchmarks/vae_binarized_mnist.py --model vae
    PYTHONPATH=src python3 benchmarks/vae_binarized_mnist.py --model iwae
    PYTHONPATH=src python3 benchmarks/vae_binarized_mnist.py --model vae-iaf     # configs/vae_iaf_mnist_15m.yaml
    PYTHONPATH=src python3 benchmarks/vae_binarized_mnist.py --model iwae-2l     # configs/iwae_2l_mnist_30m.yaml
    PYTHONPATH=src python3 benchmarks/vae_binarized_mnist.py --model pixelvae    # and vlae: IWAE-100, not 5000
    PYTHONPATH=src python3 benchmarks/vae_binarized_mnist.py --budget 20 --k 50 --eval-n 500 --no-record
"""
from __future__ import annotations

import argparse
import sys

import common  # first: puts src/ on sys.path when needed
import cli_run

import dgm.data

# model -> (config, target in nats of IWAE-5000 on the 10k test images or None: compared, not thresholded)
MODELS = {"vae": ("configs/vae_mnist_15m.yaml", 90.0), "iwae": ("configs/iwae_mnist_15m.yaml", 89.0),
          "vae-iaf": ("configs/vae_iaf_mnist_15m.yaml", None), "iwae-2l": ("configs/iwae_2l_mnist_30m.yaml", 86.0),
          "pixelvae": ("configs/pixelvae_binarized_mnist.yaml", 84.94),
          "vlae": ("configs/vlae_binarized_mnist.yaml", 84.94)}
# a PixelCNN decoder costs a network pass per importance sample: these bound the test NLL with fewer samples
DEFAULT_K = {"pixelvae": 100, "vlae": 100}
FULL = {"k": 5000, "eval_n": 10000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="vae")
    p.add_argument("--k", type=int, default=None, help="importance samples of the test NLL bound (default 5000; "
                   "100 for the PixelCNN decoders)")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.k = args.k or DEFAULT_K.get(args.model, FULL["k"])
    threads, load_start, data_dir = common.begin(args.threads)
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        args, args.model, MODELS[args.model][0], ["--metrics", "elbo,iwae,au,kl", "--k", str(args.k)], data_dir, threads)
    target = MODELS[args.model][1]
    iwae = ev[f"iwae_{args.k}"]
    nll = iwae["nll_nats"]
    train = dgm.data.load("mnist", split="train", data_dir=data_dir, download=False)
    full = args.k == DEFAULT_K.get(args.model, FULL["k"]) and iwae["n"] == FULL["eval_n"] and args.budget is None and not args.set
    record = {
        "benchmark": "vae_binarized_mnist", "metric": "test_nll_nats", "value": round(nll, 3),
        "model": args.model, "target": target if target is not None else "compared with the vae at equal time",
        "meets_target": (nll <= target) if full and target is not None else None, "full_setting": full,
        "variant": args.model + ("" if summary["precision"] == "fp32" else f" ({summary['precision']})"),
        "test_nelbo_nats": round(ev["elbo"]["nll_nats"], 3), "k": args.k, "eval_n": iwae["n"],
        "estimator": iwae["estimator"], "active_units": ev["active_units"],
        "kl_nats": round(ev["kl"]["kl_nats"], 3),
        **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start),
        "artifacts": [cli_run.keep_grid(run_dir, f"vae_binarized_mnist_{args.model}", not args.no_record)],
    }
    cli_run.finish(record, run_dir, train, summary, "vae_binarized_mnist", not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
