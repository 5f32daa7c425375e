"""One training loop for every model: steps, epochs or a time budget, optimizer groups and update schedules,
learning-rate schedules, the NaN guard, EMA, callbacks (progress, logs, sample grids, periodic validation,
checkpoints), signals, exact resume, and data-parallel processes under torchrun (``distributed``)."""
from __future__ import annotations

import contextlib
import logging
import platform
import random
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from .. import __version__
from ..data.dataset import ImageDataset, iterate_batches
from ..data.semi_supervised import LabelledBatches
from ..data.transforms import random_hflip
from ..errors import CheckpointError, DivergenceError, Interrupted
from ..models.base import Batch, GenerativeModel
from ..config import to_dict
from . import checkpoint as ckpt_io
from .callbacks import Callback, default_callbacks
from .config import TrainConfig
from .ema import EMA
from .optim import build_optimizers
from .device import flush_denormals, resolve_device
from .distributed import World, global_batchnorm, has_batchnorm, noise_for
from .precision import resolve_precision
from .schedule import TrainClock, lr_factor, schedule_by_time
from .signals import StopRequest
from .state import capture_rng, flatten_optimizer, restore_rng, unflatten_optimizer

log = logging.getLogger("dgm.train")


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy and Python's random (call before building the model; the Trainer never does)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class Trainer:
    """Trains ``model`` on ``data``; ``run_dir`` (optional) receives checkpoints, samples and logs."""

    def __init__(self, model: GenerativeModel, data: ImageDataset, config: TrainConfig | None = None,
                 run_dir: str | Path | None = None, model_name: str | None = None,
                 callbacks: Iterable[Callback] | None = None, progress: bool = True,
                 data_options: dict[str, Any] | None = None, val_data: ImageDataset | None = None,
                 world: World | None = None, **overrides):
        self.config = config or TrainConfig(**{**model.default_train, **overrides})
        # data-parallel processes: batch_size is each one's, the global batch world.size times that; rank 0
        # alone runs the default callbacks (progress, logs, grids, validation, checkpoints)
        self.world = world or World()
        self._agreed_spent: bool | None = None  # the time budget as all ranks agreed at the last step
        self.model, self.data, self.val_data = model, data, val_data
        if self.world.distributed and self.config.sync_batchnorm:
            global_batchnorm(model)
        elif self.world.distributed and has_batchnorm(model) and self.world.is_main:
            log.warning("%s has batch norm: each of the %d processes normalises its own %d samples (set "
                        "train.sync_batchnorm=true for the statistics of the global batch)", type(model).__name__,
                        self.world.size, self.config.batch_size)
        self.device = resolve_device(self.config.device)
        model.to(self.device)  # in place, before the optimizers and the EMA copy are made
        self.precision = resolve_precision(self.config.precision, self.device.type)
        if self.config.channels_last:  # in place: parameters keep their identity, only their strides change
            model.to(memory_format=torch.channels_last)
        self.model_name = model_name or type(model).__name__.lower()
        self.run_dir = Path(run_dir) if run_dir else None
        self.data_options = dict(data_options or {})  # how the data was prepared (e.g. size), for resume/eval
        self.optimizers = build_optimizers(model, self.config)
        # each group's base lr (the group's own setting, e.g. a GAN player's lr_d / lr_g): schedules scale it
        self.base_lrs = {n: [g["lr"] for g in o.param_groups] for n, o in self.optimizers.items()}
        self.clock = TrainClock()
        self.best: dict[str, Any] | None = None  # best periodic validation value so far (keep_best)
        self.stopped_by_budget = False
        self.curve: list[dict[str, Any]] = []  # periodic validation records of this fit
        self.last_eval: dict[str, float] = {}
        self.tensorboard = None  # the metrics logger's writer, when TensorBoard is installed
        self.ema = EMA(model, self.config.ema_decay) if self.config.ema_decay else None
        self.data_generator = torch.Generator()
        self.step = self.epoch = self.batch_in_epoch = 0
        self.nonfinite_consecutive = self.nonfinite_total = 0
        self.started_fresh = True
        self._loss = torch.compile(model.loss) if self.config.compile else model.loss
        if callbacks is not None:
            self.callbacks = list(callbacks)
        else:
            self.callbacks = default_callbacks(self, progress) if self.world.is_main else []
        self._check_phases()
        # semi-supervised models learn labels from a fixed subset only (their main batches come unlabelled)
        per_class = int(getattr(model, "labels_per_class", 0) or 0)
        self.labelled = LabelledBatches(data, per_class, int(getattr(model.config, "label_seed", 0)),
                                        int(getattr(model, "labelled_batch_size", 100))) if per_class else None
        # the data order and augmentation draw from the trainer's own generator; the global RNGs (the models'
        # noise) are the caller's: seed_everything before building the model, as `dgm train` does. Building a
        # trainer never reseeds them (it would silently reset a notebook's or another trainer's stream).
        self.data_generator.manual_seed(self.config.seed + 1)

    # --- sizes ------------------------------------------------------------------------------
    @property
    def global_batch(self) -> int:
        """Samples per step over all processes (batch_size on one)."""
        return self.config.batch_size * self.world.size

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.data) // self.global_batch)

    @property
    def total_steps(self) -> int:
        """The step limit; unbounded (sys.maxsize) when only a time budget ends the run."""
        c = self.config
        if c.steps is not None:
            return c.steps
        if c.epochs is None and c.time_budget_s is not None:
            return sys.maxsize
        return (c.epochs or 1) * self.steps_per_epoch

    @property
    def bounded_by_steps(self) -> bool:
        return self.total_steps != sys.maxsize

    def budget_spent(self) -> bool:
        """The time budget is spent (on several processes: as they agreed at the end of the last step)."""
        if self.world.distributed and self._agreed_spent is not None:
            return self._agreed_spent
        b = self.config.time_budget_s
        return b is not None and self.clock.seconds() >= b

    def _agree(self, stop: StopRequest) -> bool:
        """Several processes: agree on the time budget and on a stop signal (any rank's); returns whether to stop
        on a signal."""
        signalled = stop.signum is not None
        if self.world.distributed:
            self._agreed_spent = None
            self._agreed_spent, signalled = self.world.any([self.budget_spent(), signalled], self.device)
        return signalled

    def done(self) -> bool:
        """True when the step limit is reached or the time budget is spent."""
        return self.step >= self.total_steps or self.budget_spent()

    def progress(self) -> float:
        """The schedule's progress in [0, 1]: training seconds / budget, or steps done / total steps."""
        if schedule_by_time(self.config):
            return min(self.clock.seconds() / self.config.time_budget_s, 1.0)
        return min(self.step / self.total_steps, 1.0)

    def phase(self) -> tuple[str | None, float]:
        """The model's current training phase (``training_phases``; None without phases) and the progress in it,
        in [0, 1]: phase k covers overall progress [s_1 + ... + s_{k-1}, s_1 + ... + s_k) of its shares s."""
        p = self.progress()
        phases = self.model.training_phases()
        start = 0.0
        for i, (name, share) in enumerate(phases):
            if p < start + share or i == len(phases) - 1:
                return name, min(max((p - start) / share, 0.0), 1.0)
            start += share
        return None, p

    def _check_phases(self) -> None:
        phases = self.model.training_phases()
        if not phases:
            return
        from ..errors import ConfigError

        shares = [share for _, share in phases]
        if any(not share > 0 for share in shares) or abs(sum(shares) - 1.0) > 1e-6:
            raise ConfigError(f"{self.model_name}: training phase shares {shares} must be positive and sum to 1")

    def apply_lr(self) -> None:
        """Set every group's lr from the schedule at the current step and progress (in the current phase: the
        schedule restarts in each of the model's training phases, times the model's ``phase_lr_scale``)."""
        name, progress = self.phase()
        f = lr_factor(self.config, progress, self.step) * (self.model.phase_lr_scale(name) if name else 1.0)
        for name, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lrs[name]):
                group["lr"] = base * f

    @property
    def sampling_model(self) -> GenerativeModel:
        """The EMA weights when kept, else the trained model."""
        return self.ema.model if self.ema is not None else self.model

    # --- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train up to ``total_steps``; returns the last logged values."""
        if len(self.data) < self.global_batch:
            from ..errors import DataError

            over = f" x {self.world.size} processes" if self.world.distributed else ""
            raise DataError(f"dataset has {len(self.data)} samples < batch_size {self.config.batch_size}{over}; "
                            "lower --batch-size")
        self.model.train()
        self.world.broadcast_module(self.model)
        if self.ema is not None:
            self.world.broadcast_module(self.ema.model)
        batches = iterate_batches(self.data, self.global_batch, self.config.seed, self.epoch, self.batch_in_epoch)
        for cb in self.callbacks:
            cb.on_fit_start(self)
        logs: dict[str, Any] = {}
        self.clock.start()
        try:
            with StopRequest() as stop, flush_denormals(self.device):
                self._agree(stop)
                while not self.done():
                    epoch, b, x, y = next(batches)
                    if self.config.hflip and x.dim() == 4:
                        x = random_hflip(x, self.data_generator)
                    # transformed on the CPU with the seeded generator (identical batches on every device); on
                    # several processes each prepares the global batch (the generator stays in step) and keeps
                    # its rows
                    x = self.world.shard(self.model.prepare(x, self.data_generator, True))
                    x = x.to(self.device, non_blocking=True)
                    y = self.world.shard(y)
                    y = y.to(self.device, non_blocking=True) if y is not None else None
                    if self.config.channels_last and x.dim() == 4:
                        x = x.contiguous(memory_format=torch.channels_last)
                    batch = Batch(x, y, self.step, shards=self.world.size)
                    if self.labelled is not None:
                        xl, yl = self.labelled.batch(self.step)
                        xl = self.model.prepare(xl, self.data_generator, True).to(self.device, non_blocking=True)
                        batch = Batch(x, None, self.step, labelled=(xl, yl.to(self.device, non_blocking=True)),
                                      shards=self.world.size)
                    self.apply_lr()
                    with noise_for(self.world, self.config.batch_size):
                        logs = self.train_step(batch)
                    logs = self.world.mean(logs)
                    self.step += 1
                    self.epoch, self.batch_in_epoch = epoch, b + 1
                    for cb in self.callbacks:
                        cb.on_step_end(self, logs)
                    if self._agree(stop):
                        path = self.save_checkpoint() if self.world.is_main else self.run_dir
                        self.world.barrier()  # no rank exits (and makes torchrun stop the others) before the save
                        signum = stop.signum or 15
                        raise Interrupted(f"stopped by signal {signum} at step {self.step}; "
                                          f"checkpoint saved to {path}", 128 + signum)
            self.stopped_by_budget = self.budget_spent() and self.step < self.total_steps
            if self.stopped_by_budget:
                log.info("time budget of %g s spent at step %d", self.config.time_budget_s, self.step)
            for cb in self.callbacks:
                cb.on_fit_end(self)
            self.world.barrier()  # rank 0's final checkpoint is committed before any rank returns
        finally:
            self.clock.stop()
            for cb in self.callbacks:
                cb.close(self)
        return {k: float(v) for k, v in logs.items()}

    def _autocast(self):
        """bf16 autocast on the device the model and batches are on (never CUDA's for CPU tensors)."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One step of every group the model's schedule names; non-finite steps are skipped and counted."""
        if self.model.manual_optimization:
            return self._manual_step(batch)
        logs: dict[str, torch.Tensor] = {}
        stepped = False
        for group in self.model.update_schedule(self.step):
            self.model.zero_grad(set_to_none=True)
            with self._autocast():
                out = self._loss(batch, group)
            prefix = f"{group}/" if len(self.optimizers) > 1 else ""
            ok = self._check_finite(out, group)
            if ok:
                out["loss"].backward()
                self._average_gradients(group)
                ok = self._clip_and_check(group)
            if ok:
                self.optimizers[group].step()
                self.model.after_optimizer_step(group)
                self.nonfinite_consecutive = 0  # only a step actually taken ends a run of skips
                stepped = True
            for k, v in out.items():
                logs[prefix + k] = v.detach().float()
        self.model.zero_grad(set_to_none=True)
        if self.ema is not None and stepped:  # a fully skipped step leaves the EMA as it was
            self.ema.update(self.model, self.step if self.config.ema_warmup else None)
        return logs

    def _manual_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The manual path: the model calls ctx.backward / ctx.step; the guard rails stay the trainer's."""
        ctx = ManualContext(self)
        with self._autocast():
            out = self.model.training_step(batch, ctx)
        self.model.zero_grad(set_to_none=True)
        if self.ema is not None and ctx.stepped:  # as the automatic path: all steps skipped, EMA unchanged
            self.ema.update(self.model, self.step if self.config.ema_warmup else None)
        return {k: (v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))) for k, v in out.items()}

    def _check_finite(self, out: dict[str, torch.Tensor], group: str) -> bool:
        values = torch.stack([v.detach().float().reshape(()) for v in out.values()])
        ok = bool(torch.isfinite(values).all())
        if not self._agreed_ok(ok):
            bad = [k for k, v in out.items() if not bool(torch.isfinite(v.detach()).all())]
            self._skip(group, f"non-finite {', '.join(bad)}" if bad else "a non-finite loss on another process")
            return False
        return True

    def _agreed_ok(self, ok: bool) -> bool:
        """``ok`` on every process (one process: ``ok``)."""
        return not self.world.any([not ok], self.device)[0]

    def _average_gradients(self, group: str) -> None:
        if self.world.distributed and group in self.optimizers:
            self.world.average_gradients([p for g in self.optimizers[group].param_groups for p in g["params"]])

    def _clip_and_check(self, group: str) -> bool:
        params = [p for g in self.optimizers[group].param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return True
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if not bool(torch.isfinite(norm)):
            self._skip(group, "non-finite gradients")
            return False
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grads_with_norm_(params, self.config.grad_clip, norm)
        return True

    def _skip(self, group: str, what: str) -> None:
        self.nonfinite_consecutive += 1
        self.nonfinite_total += 1
        log.warning("step %d: %s in group %r; step skipped (%d in a row, %d in all)",
                    self.step, what, group, self.nonfinite_consecutive, self.nonfinite_total)
        if self.nonfinite_consecutive >= self.config.max_nonfinite:
            last = ckpt_io.committed(self.run_dir / "checkpoints") if self.run_dir else []
            kept = f"; the last good checkpoint {last[-1]} is intact" if last else "; no checkpoint was written"
            raise DivergenceError(f"training diverged: {what} in group {group!r} for {self.nonfinite_consecutive} "
                                  f"steps in a row (step {self.step}); lower --lr or set train.grad_clip{kept}")

    # --- checkpoints ------------------------------------------------------------------------
    def checkpoint_config(self) -> dict[str, Any]:
        out = {
            "model": self.model_name,
            "model_config": to_dict(self.model.config),
            "data": self.data.info.to_dict(),
            "data_options": self.data_options,
            "train": to_dict(self.config),
            "versions": {"dgm": __version__, "torch": str(torch.__version__), "python": platform.python_version()},
        }
        if self.labelled is not None:  # which labels a semi-supervised run learnt from
            out["labelled_subset"] = self.labelled.record()
        return out

    def save_checkpoint(self, best: bool = False) -> Path:
        """Commit a checkpoint of everything needed to resume exactly; returns its directory. ``best``: into
        ``run_dir/best/`` (one kept), the best periodic validation value so far."""
        if self.run_dir is None:
            raise CheckpointError("this trainer has no run_dir to save checkpoints in")
        tensors, meta = {}, {"optimizers": {}}
        for name, opt in self.optimizers.items():
            t, m = flatten_optimizer(name, opt)
            tensors.update(t)
            meta["optimizers"][name] = m
        rng_t, rng_m = capture_rng(self.data_generator)
        tensors.update(rng_t)
        state = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                 "world_size": self.world.size, "global_batch": self.global_batch,
                 "nonfinite_total": self.nonfinite_total, "rng": rng_m,
                 "train_seconds": self.clock.seconds(), "best": self.best,
                 "model_state": self.model.extra_checkpoint_state(), **meta}
        folder, keep = ("best", 1) if best else ("checkpoints", self.config.keep_checkpoints)
        return ckpt_io.write_checkpoint(
            self.run_dir / folder, self.step, self.checkpoint_config(), self.model.state_dict(),
            self.ema.state_dict() if self.ema else None, tensors, state, keep=keep)

    def load_state(self, ckpt: ckpt_io.Checkpoint) -> None:
        """Restore weights, EMA, optimizers, RNG and the position in the data from ``ckpt``."""
        st = ckpt.train_state
        if self.ema is not None and ckpt.ema is None:  # checked before anything is loaded
            raise CheckpointError(f"{ckpt.path} has no EMA weights but ema_decay is set")
        for name in self.optimizers:
            if name not in st.get("optimizers", {}):
                raise CheckpointError(f"{ckpt.path} has no state for optimizer group {name!r}")
        load_weights(self.model, ckpt.model, ckpt.path)
        if self.ema is not None:
            load_weights(self.ema.model, ckpt.ema, ckpt.path)
        for name, opt in self.optimizers.items():
            opt_state = unflatten_optimizer(name, ckpt.train_tensors, st["optimizers"][name])
            for saved, current in zip(opt_state["param_groups"], opt.param_groups):
                for key in ("lr", "betas", "weight_decay"):  # changed training fields win (warned by the caller)
                    if key in current:
                        saved[key] = current[key]
            opt.load_state_dict(opt_state)
            _match_param_strides(opt)
        self.model.load_extra_checkpoint_state(st.get("model_state") or {})
        restore_rng(self.data_generator, ckpt.train_tensors, st.get("rng", {}))
        self.step, self.epoch, self.batch_in_epoch = st["step"], st["epoch"], st["batch_in_epoch"]
        saved_world = int(st.get("world_size", 1))
        saved_batch = int(st.get("global_batch", ckpt.config.get("train", {}).get("batch_size", self.global_batch)))
        if saved_world != self.world.size or saved_batch != self.global_batch:
            # the position in the epoch is kept in samples: the next batch starts at the first sample not seen
            # at the old global batch, rounded down to a whole new batch (at most one batch is seen twice)
            self.batch_in_epoch = self.batch_in_epoch * saved_batch // self.global_batch
            if saved_world != self.world.size:
                log.warning("resuming a run trained on %d process(es) on %d: the global batch changes from %d to "
                            "%d samples; the data continues at the same epoch and sample position, the random "
                            "streams from the checkpoint", saved_world, self.world.size, saved_batch,
                            self.global_batch)
        self.nonfinite_total = st.get("nonfinite_total", 0)
        # a time-budgeted run continues its budget and schedule from the training seconds it had recorded
        self.clock = TrainClock(float(st.get("train_seconds", 0.0)))
        self.best = st.get("best")
        self.started_fresh = False


def _match_param_strides(opt: torch.optim.Optimizer) -> None:
    """Give per-parameter optimizer states their parameter's memory layout (checkpoints store them
    contiguous): fused and foreach kernels walk a parameter and its moments as raw memory, so a channels-last
    weight with contiguous moments would silently update the wrong elements."""
    for p, state in opt.state.items():
        for k, v in state.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                state[k] = torch.empty_strided(p.shape, p.stride(), dtype=v.dtype, device=v.device).copy_(v)


class ManualContext:
    """What a manually optimising model may do: backward a loss, step or zero one group (NaN guard kept)."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.phase = trainer.phase()[0]  # the model's training phase at this step (None without phases)
        self._skip_groups: set[str] = set()
        self.stepped = False  # whether any group's step was taken (the EMA follows only then)

    def backward(self, loss: torch.Tensor, group: str = "main") -> None:
        """Backpropagate ``loss`` unless it is non-finite (then ``step(group)`` is skipped); a loss that needs no
        gradient is only checked."""
        if not bool(torch.isfinite(loss.detach()).all()):
            self.trainer._skip(group, "non-finite loss")
            self._skip_groups.add(group)
            return
        if loss.requires_grad:  # a model without parameters (EM, CD on buffers) passes its loss for the guard
            loss.backward()

    def step(self, group: str = "main") -> bool:
        """Clip, check and apply the gradients of ``group``; returns False when the step was skipped. A group
        without parameters (an EM or CD model updating buffers itself) has no optimizer: its step is taken."""
        if group not in self.trainer.optimizers:
            if group not in self.trainer.model.optimizer_groups():
                self.optimizer(group)  # an unknown group: raises, naming the known ones
            ok = self.trainer._agreed_ok(group not in self._skip_groups)
        else:
            ok = self.trainer._agreed_ok(group not in self._skip_groups)
            if ok:
                self.trainer._average_gradients(group)
            elif group not in self._skip_groups:
                self.trainer._skip(group, "a non-finite loss on another process")
            ok = ok and self.trainer._clip_and_check(group)
            if ok:
                self.trainer.optimizers[group].step()
                self.trainer.model.after_optimizer_step(group)
        if ok:
            self.trainer.nonfinite_consecutive = 0
            self.stepped = True
        self._skip_groups.discard(group)
        self.zero_grad(group)
        return ok

    def zero_grad(self, group: str = "main") -> None:
        if group in self.trainer.optimizers:
            self.trainer.optimizers[group].zero_grad(set_to_none=True)

    def optimizer(self, group: str = "main") -> torch.optim.Optimizer:
        """The optimizer of ``group``, to read (e.g. Adam's moments for an unrolled lookahead), not to step."""
        try:
            return self.trainer.optimizers[group]
        except KeyError:
            from ..errors import ConfigError

            raise ConfigError(f"no optimizer group {group!r}: the model's groups with parameters are "
                              f"{sorted(self.trainer.optimizers)}") from None


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], where: Path | str) -> None:
    """``load_state_dict(strict=True)`` after naming every missing, unexpected or mis-shaped tensor."""
    own = model.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [f"{k}: shape {tuple(state[k].shape)} (checkpoint) != {tuple(v.shape)} (model)"
                 for k, v in own.items() if k in state and state[k].shape != v.shape]
    if problems:
        raise CheckpointError(f"checkpoint {where} does not fit the model: " + "; ".join(problems[:6]))
    model.load_state_dict(state, strict=True)
