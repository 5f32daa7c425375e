"""``dgm eval RUN_DIR|SAMPLES.npz``: likelihoods and sample quality, one record with its protocol."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError, DgmError
from ..metrics.disentanglement import disentanglement_record, factors_of, model_codes
from ..metrics.evaluate import ALL_METRICS, DATA_METRICS, data_record, parse_metrics, quality_record
from ..metrics.features import default_feature_net, load_feature_net
from ..metrics.path_length import perceptual_path_length
from ..metrics.quality import QUALITY_METRICS
from ..metrics.reconstruction import reconstructed_images
from ..models.base import Reconstructs
from ..runs import default_split, load_data, load_run, load_run_data, sample_images
from ..viz.grids import to_uint8
from .common import (SAMPLE_OPTIONS, ShownDefaultsFormatter, add_data_dir, add_device, add_sample_options,
                     positive_int, requested_labels, sample_options)
from .eval_report import format_record, reference_table


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a run or a samples file",
                       description="Evaluate a trained run (likelihoods on its test split, sample quality of "
                       "-n generated samples) or a samples .npz (key 'images', uint8 (N, C, H, W)) against a "
                       f"dataset's test split. Metrics: {', '.join(ALL_METRICS)} (pr also gives density and "
                       "coverage). Runs get RUN_DIR/eval/metrics.json. With --reference DATASET, print what the "
                       "numbers mean on real data and degenerate baselines.",
                       formatter_class=ShownDefaultsFormatter)
    p.add_argument("target", nargs="?", help="run directory, checkpoint directory or samples .npz")
    p.add_argument("--metrics", default="auto", help="comma-separated metrics, or auto (all the model supports)")
    p.add_argument("--dataset", help="reference dataset (default: the run's; required for .npz)")
    p.add_argument("--split", help="reference / likelihood split (default: test, or the dataset's only split: "
                   "dSprites has train alone)")
    p.add_argument("-n", type=positive_int, default=10000, help="samples generated for quality metrics; also "
                   "caps the test examples used for likelihoods")
    p.add_argument("--features", help="feature network (default: bundled classifier for MNIST-like data, "
                   "else inception-v3)")
    p.add_argument("--k", type=positive_int, default=1000, help="importance samples for iwae")
    p.add_argument("--bound-terms", type=positive_int, metavar="K", help="diffusion models: estimate the bound "
                   "(nll, elbo) from L_0 and K strata of the other steps, one drawn per stratum (unbiased, K + 1 "
                   "network passes per image instead of T; default: every term)")
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--ais-steps", type=positive_int, help="energy models: AIS inverse temperatures for log Z "
                   "(default: the run's model.ais_steps, the paper's 14,500)")
    p.add_argument("--ais-runs", type=positive_int, help="energy models: AIS runs (default: the run's model.ais_runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling and of the test-set binarisation")
    p.add_argument("--factor-samples", type=float, default=1.0, metavar="SCALE", help="disentanglement: scale the "
                   "metrics' sample counts (1: 1,000 + 500 votes or points of 64 pairs, 10,000 codes for MIG, "
                   "2,000 + 1,000 for DCI)")
    add_sample_options(p)
    p.add_argument("--labels", help="conditional or guided sampling: the classes asked for, a comma list cycled "
                   "over the samples or 'all'; the classes metric then reports label agreement (a samples .npz "
                   "brings its own 'labels' array)")
    p.add_argument("--reconstructions", action="store_true", help="also score the model's reconstructions of the "
                   "first -n test images with the sample-quality metrics asked for (FID of reconstructions, as "
                   "ALAE reports), under metrics.quality_reconstructions")
    p.add_argument("--no-cache", action="store_true", help="recompute reference features")
    p.add_argument("--reference", metavar="DATASET", help="print the reference table for DATASET and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a table")
    add_data_dir(p)
    add_device(p)
    p.set_defaults(run=run)


def feature_net_for(args: argparse.Namespace, dataset: str, kind: str):
    """(feature network, why not): None when the data has none (points) or none is available and not asked for
    by name; then the reason, which the record keeps and stderr shows (auto never drops FID silently)."""
    if kind == "points":
        return None, "2-D points have no feature network: sample-quality metrics need images"
    asked = [m.strip() for m in args.metrics.split(",")]
    if args.metrics != "auto" and not args.features and not any(m in (*QUALITY_METRICS, "ppl") for m in asked):
        return None, None  # no metric that needs features asked for: no feature network to load
    name = args.features or default_feature_net(dataset)
    try:
        return load_feature_net(name), None
    except DgmError as e:
        if args.features or args.metrics != "auto":
            raise
        return None, f"sample-quality metrics (fid, kid, is, pr, classes) skipped: {e}"


def run(args: argparse.Namespace) -> int:
    if args.reference:
        net = load_feature_net(args.features or default_feature_net(args.reference))
        rows = reference_table(args.reference, net, args.data_dir, args.n, args.seed, not args.no_cache)
        print(json.dumps(rows) if args.json else rows["markdown"])
        return 0
    if not args.target:
        raise ConfigError("give a run directory or samples .npz to evaluate, or --reference DATASET")
    t0 = time.perf_counter()
    target = Path(args.target)
    model = None
    if target.suffix == ".npz":
        if not args.dataset:
            raise ConfigError("evaluating a samples file needs --dataset (the reference, e.g. mnist)")
        samples, asked = read_samples(target, with_labels=True)
        dataset = args.dataset
        args.split = args.split or default_split(dataset)
        reference = load_data(dataset, args.split, args.data_dir)
        if reference.info.kind == "points":
            raise DataError(f"{target} holds images {tuple(samples.shape[1:])} but {dataset} is 2-D points "
                            f"{tuple(reference.info.shape)}; evaluate images against an image dataset")
        record = {"samples": str(target), "dataset": dataset}
    else:
        model, ckpt = load_run(target, device=args.device)
        set_ais(model, args.ais_steps, args.ais_runs)
        dataset = args.dataset or ckpt.config["data"]["name"]
        args.split = args.split or default_split(dataset)
        reference = load_run_data(ckpt, args.split, args.data_dir) if not args.dataset else \
            load_data(dataset, args.split, args.data_dir)
        record = {"run": str(target), "checkpoint": str(ckpt.path), "model": ckpt.config["model"], "dataset": dataset}
        samples = None
    if model is None and any(getattr(args, k, None) is not None for k in (*SAMPLE_OPTIONS, "classifier", "labels")):
        raise ConfigError("sampling options (--sampler, --steps, --labels, ...) apply to a run, not to a samples "
                          "file")
    if model is not None:
        options = sample_options(args, model)
        asked = requested_labels(args.labels, args.n, model, options)
    images = reference
    if reference.info.kind == "codes":  # a prior over codes: likelihoods of codes, quality of decoded images
        from ..codes import image_reference

        images = image_reference(reference.info, args.split, args.data_dir)
        dataset = images.info.name
    net, skipped = feature_net_for(args, dataset, images.info.kind)
    if args.reconstructions:
        check_reconstructions(model, net, args.metrics)
    metrics = parse_metrics(args.metrics, model, net is not None, getattr(reference, "factors", None) is not None)
    record.update({"split": args.split, "seed": args.seed, "metrics": {}})
    if skipped and args.metrics == "auto":
        record["quality_skipped"] = skipped
        if reference.info.kind != "points":
            print(f"dgm eval: warning: {skipped}", file=sys.stderr)
    if model is not None and any(m in DATA_METRICS for m in metrics):
        # the first -n examples; of a factor grid (dSprites: ordered by its factors) a seeded random -n
        data = reference.subset(slice(0, args.n)) if getattr(reference, "factors", None) is None else \
            reference.subset(torch.randperm(len(reference), generator=torch.Generator().manual_seed(args.seed))[:args.n])
        record["n_test"] = len(data)
        bound_options = {}
        if args.bound_terms is not None:
            if "terms" not in inspect.signature(model.elbo).parameters:
                raise ConfigError(f"--bound-terms: {type(model).__name__}'s bound has no stratified estimate; it "
                                  "is for diffusion models")
            bound_options["terms"] = args.bound_terms
        record["metrics"].update(data_record(model, data, metrics, args.k, args.batch_size, args.seed,
                                             progress=not args.json, bound_options=bound_options))
        for m in record["metrics"].values():
            if isinstance(m, dict) and m.get("ais_warning"):
                print(f"dgm eval: warning: {m['ais_warning']}", file=sys.stderr)
    if model is not None and "disentanglement" in metrics:  # the whole factor grid, not the first -n rows
        t_factors = time.perf_counter()
        record["metrics"]["disentanglement"] = disentanglement_record(
            model_codes(model, reference, seed=args.seed), factors_of(reference), args.seed, args.factor_samples)
        record["metrics"]["disentanglement"]["protocol"]["seconds"] = round(time.perf_counter() - t_factors, 2)
    if model is not None and "ppl" in metrics:  # Z for every GAN, W too for style-based ones
        spaces = ("z", "w") if getattr(model, "style_based", False) else ("z",)
        record["metrics"]["ppl"] = {s: perceptual_path_length(model, net, args.n, s, batch_size=args.batch_size,
                                                              seed=args.seed) for s in spaces}
    if net is not None and any(m in QUALITY_METRICS for m in metrics):
        if samples is None:
            t_sample = time.perf_counter()
            samples = torch.from_numpy(to_uint8(sample_images(model, args.n, seed=args.seed, labels=asked,
                                                              **options)))
            record["sample_s"] = round(time.perf_counter() - t_sample, 2)
        if tuple(samples.shape[1:]) != tuple(images.info.shape):
            raise DataError(f"samples of shape {tuple(samples.shape[1:])} do not match {dataset} "
                            f"{tuple(images.info.shape)}")
        record["metrics"]["quality"] = quality_record(samples, images, net, metrics, args.seed, not args.no_cache,
                                                      labels=asked)
        if model is not None:  # decoder means and draws are different things to score
            record["metrics"]["quality"]["protocol"]["samples"] = model.sample_semantics(options)
        if args.reconstructions:
            shown = reference.subset(slice(0, args.n))
            recs = torch.from_numpy(to_uint8(reconstructed_images(model, shown, args.batch_size, args.seed)))
            q = quality_record(recs, images, net, metrics, args.seed, not args.no_cache)
            q["protocol"]["samples"] = f"reconstructions of the first {len(shown)} {args.split} images"
            record["metrics"]["quality_reconstructions"] = q
    record["eval_s"] = round(time.perf_counter() - t0, 2)
    if model is not None and (target / "checkpoints").is_dir():
        out = target / "eval" / "metrics.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2))
    print(json.dumps(record) if args.json else format_record(record))
    return 0


def check_reconstructions(model, net, metrics: str) -> None:
    """--reconstructions needs a run whose model reconstructs and a sample-quality metric to score them with."""
    if model is None or not isinstance(model, Reconstructs):
        what = "a samples file" if model is None else type(model).__name__
        raise ConfigError(f"--reconstructions needs a run of a model that reconstructs (an autoencoder); {what} "
                          "does not")
    if net is None or (metrics != "auto" and not any(m.strip() in QUALITY_METRICS for m in metrics.split(","))):
        raise ConfigError("--reconstructions scores reconstructions with the sample-quality metrics: ask for one "
                          "(e.g. --metrics fid) on image data with a feature network")


def set_ais(model, steps: int | None, runs: int | None) -> None:
    """--ais-steps / --ais-runs: the AIS estimator's settings for this evaluation (the run keeps its own)."""
    if steps is None and runs is None:
        return
    if not hasattr(model.config, "ais_steps"):
        raise ConfigError("--ais-steps / --ais-runs: only energy models (rbm, grbm, dbn, dbm) estimate log Z by AIS")
    if steps is not None and steps < 3:
        raise ConfigError(f"--ais-steps {steps}: AIS needs at least 3 inverse temperatures")
    model.config = dataclasses.replace(model.config, **{k: v for k, v in (("ais_steps", steps), ("ais_runs", runs))
                                                        if v is not None})


def read_samples(path: Path, with_labels: bool = False):
    """Key 'images' of a .npz: uint8 (N, C, H, W); with ``with_labels`` also its 'labels' (N,) int64 or None."""
    if not path.is_file():
        raise DataError(f"samples file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f:
                raise DataError(f"{path} has no 'images' array (keys: {', '.join(f.files)})")
            images = f["images"]
            labels = f["labels"] if with_labels and "labels" in f else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as e:
        # (corrupt members surface as zlib errors, unsupported zip features as NotImplementedError/RuntimeError)
        raise DataError(f"{path} is not a readable .npz ({e or 'empty file'}); write it with "
                        "numpy.savez(path, images=uint8 array (N, C, H, W))") from None
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"{path}: 'images' must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
    if not with_labels:
        return torch.from_numpy(images)
    if labels is not None and (labels.shape != (len(images),) or labels.dtype.kind not in "iu"):
        raise DataError(f"{path}: 'labels' must be integers (N,) = ({len(images)},), got {labels.dtype} "
                        f"{labels.shape}")
    return torch.from_numpy(images), None if labels is None else torch.from_numpy(labels.astype(np.int64))
