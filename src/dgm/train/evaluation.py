"""Periodic validation during training: the model's natural metric on a fixed, evenly spread subset of the
validation split, off the training clock, written to metrics.jsonl and kept as the learning curve.

The metric is chosen by capability: exact NLL (``log_prob``), else the negative ELBO (``elbo``, an upper bound
on the NLL), else FID of samples against the subset in the bundled classifier's features (generators of
MNIST-like images); a model whose ``validate_by`` is "reconstruction" (a VQ-VAE, whose samples need a prior it
does not have) is scored by the MSE of its reconstructions, and one whose ``validate_by`` is "classification"
(the semi-supervised AAE) by its classification error on the validation labels. Lower is better for all, so
``keep_best`` keeps the lowest.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch

from ..data.dataset import ImageDataset
from ..data.validation import spread_subset
from ..errors import ConfigError
from ..models.base import Classifies, GenerativeModel, HasELBO, HasLogProb, Reconstructs
from .callbacks import Callback, append_metrics

if TYPE_CHECKING:
    from .trainer import Trainer

log = logging.getLogger("dgm.train")


@dataclass
class ValidationMetric:
    """A named metric of a model on validation data (lower is better)."""

    name: str
    kind: str  # a likelihood kind (models.base.LIKELIHOOD_KINDS: exact, bound, estimate) or "sample-based"
    compute: Callable[[GenerativeModel], float]


def choose_metric(model: GenerativeModel, data: ImageDataset, n_samples: int, seed: int = 0) -> ValidationMetric:
    """The natural validation metric of ``model`` on ``data`` (already the evaluated subset)."""
    from ..metrics.likelihood import negative_log_likelihood

    validate_by = getattr(model, "validate_by", "auto")
    if validate_by == "reconstruction" and isinstance(model, Reconstructs):
        from ..metrics.reconstruction import reconstruction_error

        return ValidationMetric("recon_mse", "reconstruction",
                                lambda m: reconstruction_error(m, data, 250, seed)["mse"])
    if validate_by == "classification" and isinstance(model, Classifies):
        from ..metrics.classification import classification_accuracy

        return ValidationMetric("error", "classification",
                                lambda m: classification_accuracy(m, data, seed=seed)["error"])
    by_likelihood = validate_by not in ("samples", "reconstruction", "classification")
    if by_likelihood and isinstance(model, HasLogProb):
        return ValidationMetric("nll_nats", model.log_prob_kind,
                                lambda m: negative_log_likelihood(m, data, 1, 250, seed)["nll_nats"])
    if by_likelihood and isinstance(model, HasELBO):
        options = getattr(model, "validation_bound_options", None)  # e.g. a diffusion's stratified estimate
        return ValidationMetric("neg_elbo_nats", "bound", lambda m: negative_log_likelihood(
            m, data, 1, 250, seed, bound_options=options)["nll_nats"])
    if data.info.kind != "points":
        from ..errors import DgmError
        from ..metrics.features import default_feature_net, load_feature_net
        from ..metrics.quality import reference_features, sample_quality
        from ..runs import sample_images
        from ..viz.grids import to_uint8

        try:
            net = load_feature_net(default_feature_net(data.info.name))
        except DgmError as e:
            raise ConfigError(f"periodic evaluation of {type(model).__name__} needs FID features: {e}; "
                              "set train.eval_every=0") from None
        ref = reference_features(net, data, use_cache=False)

        def fid_of(m: GenerativeModel) -> float:
            samples = torch.from_numpy(to_uint8(sample_images(m, n_samples, seed=seed)))
            return float(sample_quality(samples, ref, net, ("fid",))["fid"])

        return ValidationMetric(f"fid_{net.name}", "sample-based", fid_of)
    raise ConfigError(f"no validation metric for {type(model).__name__} on points data; set train.eval_every=0")


class PeriodicEval(Callback):
    """Every ``eval_every`` steps or ``eval_every_s`` training seconds (and at the end): the validation metric,
    computed on the sampling model (EMA when kept) with the training clock paused. Keeps ``trainer.curve``."""

    def __init__(self, data: ImageDataset, every_steps: int, every_s: float, n: int, keep_best: bool):
        self.data, self.every_steps, self.every_s = spread_subset(data, n), every_steps, every_s
        self.n, self.keep_best = n, keep_best
        self.metric: ValidationMetric | None = None
        self.next_s = every_s
        self.last_step = -1

    def on_fit_start(self, trainer):
        with trainer.clock.paused():
            self.metric = choose_metric(trainer.sampling_model, self.data, self.n)
        if self.every_s:  # a resumed run continues its grid of times
            t = trainer.clock.seconds()
            self.next_s = (int(t // self.every_s) + 1) * self.every_s

    def due(self, trainer) -> bool:
        if self.every_steps and trainer.step % self.every_steps == 0:
            return True
        return bool(self.every_s) and trainer.clock.seconds() >= self.next_s

    def on_step_end(self, trainer, logs):
        if self.due(trainer) and not trainer.done():
            self.evaluate(trainer)

    def on_fit_end(self, trainer):
        if self.last_step != trainer.step:
            self.evaluate(trainer)

    def evaluate(self, trainer: "Trainer") -> dict[str, Any]:
        with trainer.clock.paused():
            t0 = time.perf_counter()
            model = trainer.sampling_model
            was_training = model.training
            model.eval()
            with torch.no_grad():
                value = self.metric.compute(model)
            model.train(was_training)
            record = {"step": trainer.step, "epoch": trainer.epoch, "train_s": round(trainer.clock.seconds(), 2),
                      f"val/{self.metric.name}": value, "val/kind": self.metric.kind, "val/n": len(self.data),
                      "val/split": self.data.info.split, "eval_s": round(time.perf_counter() - t0, 2)}
            trainer.curve.append(record)
            trainer.last_eval = {f"val {self.metric.name}": value}
            if trainer.run_dir is not None:
                append_metrics(trainer.run_dir, record)
                tb = getattr(trainer, "tensorboard", None)
                if tb is not None:
                    tb.add_scalar(f"val/{self.metric.name}", value, trainer.step)
            log.info("step %d: validation %s %.4f (%s, %d %s examples)", trainer.step, self.metric.name, value,
                     self.metric.kind, len(self.data), self.data.info.split)
            if self.keep_best and (trainer.best is None or value < trainer.best["value"]):
                trainer.best = {"metric": self.metric.name, "value": value, "step": trainer.step}
                if trainer.run_dir is not None:
                    trainer.save_checkpoint(best=True)
        self.last_step = trainer.step
        if self.every_s:
            while self.next_s <= trainer.clock.seconds():
                self.next_s += self.every_s
        return record
