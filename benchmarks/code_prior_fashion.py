"""Two-stage sampling on Fashion-MNIST through `dgm`: a prior over a 30-minute VQ-VAE's codes (a transformer, or a
gated PixelCNN), trained for 30 more minutes (60 in all); FID and IS of 10,000 decoded samples with the bundled
Fashion-MNIST features, and the prior's bits per code on the test images' codes.

The figure (the issue's): the best FID of three models trained on Fashion-MNIST for the same 60 minutes, this
one, the project's VAE and its DCGAN (their records are separate); bits per code of both priors. The settings
are in configs/vqvae_fashion_mnist.yaml and configs/code_prior_{transformer,gated}_fashion_mnist.yaml; this
script runs (the first line only without --autoencoder)

    dgm train vqvae --config configs/vqvae_fashion_mnist.yaml --threads 2 --no-progress --out AE
    dgm train code-prior --autoencoder AE --config CONFIG --threads 2 --no-progress --out RUN
    dgm eval RUN --metrics nll,fid,is -n 10000 --json

(only the last with --run, a prior this script trained before, e.g. to score it with --metrics nll alone: the
gated PixelCNN prior samples naively, about 30 minutes for 10,000 samples on 2 cores).

    PYTHONPATH=src python3 benchmarks/code_prior_fashion.py --autoencoder runs/vqvae-fashion [--prior gated-pixelcnn]
    PYTHONPATH=src python3 benchmarks/code_prior_fashion.py --run runs/prior-gated --metrics nll
    PYTHONPATH=src python3 benchmarks/code_prior_fashion.py --budget 20 --eval-n 100 --no-record    # smoke test

One JSON record; its value is the FID (bits per code without fid in --metrics).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import common  # first: puts src/ on sys.path when needed
import cli_run
import yaml

from dgm.runs import load_data

CONFIGS = {"transformer": "configs/code_prior_transformer_fashion_mnist.yaml",
           "gated-pixelcnn": "configs/code_prior_gated_fashion_mnist.yaml"}
AUTOENCODER_CONFIG = "configs/vqvae_fashion_mnist.yaml"
FULL = {"budget": 1800.0, "eval_n": 10000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prior", choices=sorted(CONFIGS), default="transformer")
    p.add_argument("--autoencoder", type=Path, help="a finished VQ-VAE run (default: train one first)")
    p.add_argument("--run", type=Path, help="a finished prior run to evaluate as it is (its autoencoder with it)")
    p.add_argument("--metrics", default="nll,fid,is", help="passed to dgm eval (nll is always among them)")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    if args.run:  # the autoencoder the prior records: <its run>/checkpoints/step-N
        config = yaml.safe_load((args.run / "config.yaml").read_text())
        args.autoencoder = Path(config["data"]["codes"]["autoencoder"]).parents[1]
        args.prior = config["model_config"]["prior"]
    if args.autoencoder:
        ae_command, ae_dir, ae_summary = f"(the run {args.autoencoder})", args.autoencoder, \
            cli_run.train_summary(args.autoencoder)
    else:
        ae_args = copy.copy(args)
        ae_args.set, ae_args.out = [], args.out and args.out / "vqvae"
        ae_argv, ae_dir, ae_summary = cli_run.train(ae_args, "vqvae", AUTOENCODER_CONFIG, data_dir, threads)
        ae_command = cli_run.command(ae_argv)
    prior_args = copy.copy(args)
    prior_args.out = args.out and args.out / "prior"
    config = CONFIGS[args.prior]
    metrics = ",".join(dict.fromkeys(["nll", *args.metrics.split(",")]))
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        prior_args, "code-prior", config, ["--metrics", metrics], data_dir, threads,
        extra=("--autoencoder", str(ae_dir)))
    nll, q = ev["nll"], ev.get("quality")
    ae_budget = ae_summary["train_settings"]["time_budget_s"]
    budget = summary["train_settings"]["time_budget_s"]
    n_samples = q["protocol"]["n_samples"] if q else 0
    full = (n_samples >= FULL["eval_n"] or not q) and budget <= FULL["budget"] and ae_budget <= FULL["budget"] \
        and not args.set and args.eval_n >= FULL["eval_n"]
    record = {
        "benchmark": "code_prior_fashion", "model": "code-prior",
        **({"metric": "fid", "value": round(q["fid"], 3), "is": round(q["is"]["is_mean"], 4),
            "samples": q["protocol"]["samples"], "feature_net": q["protocol"]["feature_net"]} if q else
           {"metric": "bits_per_code", "value": round(nll["bits_per_dim"], 4)}),
        "variant": f"{args.prior} prior ({config}) on a VQ-VAE's codes ({AUTOENCODER_CONFIG})"
                   + (f", {n_samples} samples" if q else ", bits per code only"),
        "bits_per_code": round(nll["bits_per_dim"], 4),
        "nll_nats_per_image": round(nll["nll_nats"], 3), "nll_stderr_nats": round(nll["stderr_nats"], 3),
        "n_test": nll["n"],
        "autoencoder": {"run_dir": str(ae_dir), "command": ae_command, "steps": ae_summary["steps"],
                        "train_s": ae_summary["train_s"], "budget_s": ae_budget},
        "total_train_s": round(ae_summary["train_s"] + summary["train_s"], 1),
        "target": "the best FID of three at 60 minutes in all: this, the VAE and the DCGAN on Fashion-MNIST" if q
        else "bits per code of both priors on the test images' codes (compared, no threshold)",
        "meets_target": None, "full_setting": full,
        **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start),
    }
    ev_full = cli_run.eval_record(run_dir)
    record["sample_s"] = ev_full.get("sample_s")
    record["artifacts"] = [cli_run.keep_grid(run_dir, f"code_prior_fashion_{args.prior}", not args.no_record)]
    codes = load_data(ev_full["dataset"], "train", data_dir)  # "codes:<the VQ-VAE's checkpoint>", cached
    cli_run.finish(record, run_dir, codes, summary, "code_prior_fashion", not args.no_record)
    print(f"{record['metric']} {record['value']}, {record['bits_per_code']} bits per code", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
