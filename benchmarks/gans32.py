"""Issue 18's GAN figures on Fashion-MNIST and MNIST padded to 32x32: StyleGAN2, ProGAN, StyleGAN and the DCGAN
preset, each trained for 60 minutes through `dgm` with its preset (fp32 for all), scored by FID, IS and
precision / recall of 10,000 samples with the bundled features; with --fq the same preset plus FQ-GAN's feature
quantisation (the FID change at equal time); for style-based models also the perceptual path length, a
style-mixing grid and, with --truncation, the truncation trade-off (FID, precision, recall for psi in 0.5, 0.7,
0.9, 1.0) of the trained run.

    PYTHONPATH=src python3 benchmarks/gans32.py --model stylegan2 --data fashion-mnist    # 60 min + eval
    PYTHONPATH=src python3 benchmarks/gans32.py --model progan --data fashion-mnist
    PYTHONPATH=src python3 benchmarks/gans32.py --model dcgan --data fashion-mnist
    PYTHONPATH=src python3 benchmarks/gans32.py --model stylegan2 --data fashion-mnist --fq
    PYTHONPATH=src python3 benchmarks/gans32.py --model stylegan2 --data mnist --budget 20 --eval-n 200 --no-record

Training is `dgm train MODEL --config configs/gan32_<data>_60m.yaml` (the data at 32x32, the 60-minute budget,
fp32), evaluation `dgm eval RUN --metrics fid,is,pr[,ppl] -n 10000 --seed 1234`. Prints one JSON line last.
"""
from __future__ import annotations

import argparse
import shutil
import sys

import common  # first: puts src/ on sys.path when needed
import cli_run

from dgm.runs import load_run, load_run_data

MODELS = ("stylegan2", "progan", "stylegan", "dcgan")
STYLE_BASED = ("stylegan2", "stylegan")
DATA = {"fashion-mnist": "configs/gan32_fashion_mnist_60m.yaml", "mnist": "configs/gan32_mnist_60m.yaml"}
FQ = "model.tricks.feature_quantisation.weight=1.0"
FULL = {"budget": 3600.0, "eval_n": 10000}
PSI = (0.5, 0.7, 0.9, 1.0)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=MODELS, default="stylegan2")
    p.add_argument("--data", choices=sorted(DATA), default="fashion-mnist")
    p.add_argument("--fq", action="store_true", help="add FQ-GAN's feature quantisation to the preset")
    p.add_argument("--truncation", action="store_true", help="style-based models: also the truncation sweep")
    cli_run.add_options(p, FULL["eval_n"])
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.fq:
        args.set = [*args.set, FQ]
    threads, load_start, data_dir = common.begin(args.threads)
    metrics = "fid,is,pr" + (",ppl" if args.model in STYLE_BASED else "")
    train_argv, eval_argv, run_dir, summary, ev = cli_run.train_and_eval(
        args, args.model, DATA[args.data], ["--metrics", metrics, "--seed", "1234"], data_dir, threads)
    q = ev["quality"]
    variant = f"{args.model}{' + fq' if args.fq else ''} on {args.data} 32x32"
    record = {"benchmark": "gans32", "metric": "fid", "value": round(q["fid"], 3), "model": args.model,
              "data": args.data, "fq": args.fq, "variant": variant, "inception_score": round(q["is"]["is_mean"], 3),
              "sample_precision": round(q["pr"]["precision"], 4), "sample_recall": round(q["pr"]["recall"], 4),
              "features": q["protocol"]["feature_net"], "n_samples": q["protocol"]["n_samples"],
              "target": "StyleGAN2 has the best FID on Fashion-MNIST among stylegan2, progan, dcgan at equal time",
              "full_setting": summary["train_settings"]["time_budget_s"] >= FULL["budget"] and
              q["protocol"]["n_samples"] >= FULL["eval_n"] and args.set in ([], [FQ]),
              **cli_run.run_fields(args, train_argv, eval_argv, run_dir, summary, threads, load_start)}
    if "ppl" in ev:
        record["ppl"] = {space: round(r["value"], 3) for space, r in ev["ppl"].items()}
    artifacts = [cli_run.keep_grid(run_dir, f"gans32_{args.model}_{args.data}{'_fq' if args.fq else ''}",
                                   not args.no_record)]
    if args.model in STYLE_BASED:
        grid = run_dir / "style_mix.png"
        viz_argv = ["viz", str(run_dir), "style-mix", "--rows", "4", "--steps", "6", "--out", str(grid)]
        cli_run.dgm(viz_argv)
        record["command"] += f" && {cli_run.command(viz_argv)}"
        if not args.no_record:
            kept = common.RESULTS / f"gans32_{args.model}_{args.data}_style_mix.png"
            shutil.copyfile(grid, kept)
            artifacts.append(common.rel(kept))
        if args.truncation:
            sweep = {}
            for psi in PSI:
                argv = ["eval", str(run_dir), "--metrics", "fid,pr", "-n", str(args.eval_n), "--seed", "1234",
                        "--truncation", str(psi), "--data-dir", str(data_dir), "--json"]
                cli_run.dgm(argv)
                r = cli_run.eval_record(run_dir)["metrics"]["quality"]
                sweep[str(psi)] = {"fid": round(r["fid"], 3), "precision": round(r["pr"]["precision"], 4),
                                   "recall": round(r["pr"]["recall"], 4)}
            record["truncation"] = sweep
    record["artifacts"] = artifacts
    train = load_run_data(load_run(run_dir)[1], "train", data_dir)  # padded to 32 like the run's
    cli_run.finish(record, run_dir, train, summary, "gans32", not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
