"""Data-parallel training over processes that torchrun starts: the world (rank, size) read from the environment
torchrun sets, gradient averaging, agreed flags and averaged logs, and per-rank noise that makes N processes
with batch B each compute what one process with batch N * B computes.

How the trainer uses it (``Trainer(world=...)``, built by `dgm train` from ``World.from_environment()``):

- every rank walks the same *global* batches (``batch_size * size`` samples, the single-process order), prepares
  the whole global batch with the shared data generator and keeps its own slice ``[rank * B, (rank + 1) * B)``;
- random draws inside a training step run under ``ShardedNoise``: a draw whose shape has the local batch size in
  some dimension is drawn at the global size and sliced (the same numbers one process would use for these rows,
  and every rank's random stream stays where one process's would be); any other random operation (dropout, a
  Bernoulli of a given probability, a permutation) runs on a per-rank fork of the stream, so ranks never share
  noise, and every rank's stream still advances alike;
- after backward, each optimizer group's gradients are averaged over ranks in one flat all-reduce (a parameter
  gets a gradient when any rank gave it one), then clipped and checked: the averaged gradients, hence the steps
  and the NaN guard's decisions, are the same on every rank; a non-finite loss on one rank skips the step on all;
- the time budget and a stop signal are agreed once per step (any rank's says stop), logs are averaged.

This is PyTorch's data-parallel engine (``torch.distributed`` process groups: gloo on CPUs, NCCL on GPUs)
without the ``DistributedDataParallel`` module wrapper: models here compute losses through several methods and
double backward (gradient penalties, path length), which the wrapper's hooks do not follow.
"""
from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch.overrides import TorchFunctionMode

from ..errors import ConfigError, DistributedError

log = logging.getLogger("dgm.train")

TIMEOUT_S = 600.0  # a collective waiting longer than this (a dead or stuck rank) raises instead of hanging


@dataclass
class World:
    """This process's place among ``size`` data-parallel processes (``rank`` 0 writes the run's files)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_environment(cls, device: str = "auto") -> "World":
        """The world torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), its process group
        started: NCCL when the run uses CUDA, else gloo. One process (no torchrun): ``World()``, nothing
        started. ``DGM_DIST_TIMEOUT_S`` overrides how long a collective waits for a missing rank."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise ConfigError(f"WORLD_SIZE={size} but {', '.join(missing)} unset: start data-parallel training "
                              "with torchrun (torchrun --nproc_per_node=N -m dgm train ...)")
        rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        backend = "nccl" if cuda else "gloo"
        if cuda:
            torch.cuda.set_device(local)
        if not dist.is_initialized():
            timeout = float(os.environ.get("DGM_DIST_TIMEOUT_S", TIMEOUT_S))
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
        return cls(rank, size, local, backend)

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            try:
                dist.destroy_process_group()
            except RuntimeError:  # the group is already broken (a lost rank): nothing left to release
                pass

    @contextlib.contextmanager
    def talking(self, what: str):
        """Collectives of this block: a lost rank or a timeout becomes one DistributedError line."""
        try:
            yield
        except RuntimeError as e:
            text = re.sub(r"^\[[^\]]*\]\s*", "", str(e).strip())  # gloo's source location first
            first = text.splitlines()[0][:160] if text else type(e).__name__
            raise DistributedError(
                f"process {self.rank} of {self.size} lost the others during {what} ({first}); the run's last "
                "committed checkpoint is intact: rerun the same torchrun command with --resume RUN") from None

    # --- collectives (no-ops on one process) -------------------------------------------------
    def barrier(self) -> None:
        if self.distributed:
            with self.talking("a barrier"):
                dist.barrier()

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` (picklable) on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        with self.talking("a broadcast"):
            dist.broadcast_object_list(box, 0)
        return box[0]

    def any(self, flags: Iterable[bool], device: torch.device | str = "cpu") -> list[bool]:
        """Each flag true on any rank."""
        flags = list(flags)
        if not self.distributed:
            return flags
        t = torch.tensor([float(f) for f in flags], device=self._device(device))
        with self.talking("agreeing on a step"):
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def mean(self, logs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Scalar logs averaged over ranks (the same keys on every rank, in the same order)."""
        if not self.distributed or not logs:
            return logs
        keys = list(logs)
        t = torch.stack([logs[k].detach().float().reshape(()) for k in keys])
        with self.talking("averaging the logs"):
            dist.all_reduce(t)
        t /= self.size
        return dict(zip(keys, t.unbind()))

    def average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Gradients averaged over ranks in one flat all-reduce; a parameter without a gradient here gets the
        average when some rank has one (zeros counted for the others), stays None when no rank has one."""
        if not self.distributed or not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        present = torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)
        flat = torch.cat([g.reshape(-1).float() for g in grads] + [present])
        with self.talking("averaging gradients"):
            dist.all_reduce(flat)
        flat[:-len(params)] /= self.size
        offset, present = 0, flat[-len(params):].tolist()
        for p, g, there in zip(params, grads, present):
            n = g.numel()
            if there:
                avg = flat[offset:offset + n].view_as(g).to(g.dtype)
                if p.grad is None:
                    p.grad = torch.empty_strided(p.shape, p.stride(), dtype=p.dtype, device=p.device)
                p.grad.copy_(avg)
            offset += n

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (they start equal from the shared seed; this makes
        sure, as DistributedDataParallel does)."""
        if not self.distributed:
            return
        with self.talking("sharing the initial weights"):
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, 0)

    def shard(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """This rank's rows of a global batch (size * B rows)."""
        if x is None or not self.distributed:
            return x
        b = x.shape[0] // self.size
        return x[self.rank * b:(self.rank + 1) * b]

    def _device(self, device) -> torch.device:
        return torch.device(device) if self.backend != "nccl" else torch.device("cuda", torch.cuda.current_device())


# --- batch norm over the global batch ---------------------------------------------------------
class _SumOverRanks(torch.autograd.Function):
    """y = the sum over ranks of x; the gradient of each rank's x is the sum over ranks of the gradients of y
    (every rank's loss depends on every rank's x through y)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone()
        dist.all_reduce(g)
        return g


class GlobalBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch over all ranks (one all-reduce of
    per-channel sums, sums of squares and the count, differentiable), for any input (N, C, *); torch's
    SyncBatchNorm does the same on GPUs only. Same parameters and buffers as BatchNorm1d/2d/3d, so checkpoints
    are interchangeable; one process, or eval mode, is plain batch norm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"batch norm expects (N, C, ...) input, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        c, dims = x.shape[1], [0, *range(2, x.dim())]
        xd = x.double()  # sums of many products: in float64, then the statistics back in x's precision
        local = torch.cat([xd.sum(dims), (xd * xd).sum(dims), xd.new_tensor([x.numel() // c])])
        total = _SumOverRanks.apply(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), m)
                self.running_var.lerp_((var * n / (n - 1).clamp_min(1)).to(self.running_var.dtype), m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype).view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def global_batchnorm(module: torch.nn.Module) -> int:
    """Turn every BatchNorm1d/2d/3d inside ``module`` into a GlobalBatchNorm in place, keeping its parameter
    and buffer objects (an optimizer built before still holds them); returns how many."""
    plain = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    count = 0
    for m in module.modules():
        if type(m) in plain:
            m.__class__ = GlobalBatchNorm
            count += 1
    return count


def has_batchnorm(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(m, GlobalBatchNorm)
               for m in module.modules())


# --- per-rank noise ---------------------------------------------------------------------------
_SHAPED = {torch.randn, torch.rand, torch.randint}  # the shape is an argument
_LIKE = {torch.randn_like, torch.rand_like, torch.randint_like}  # the shape is a tensor's
_IN_PLACE = {torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.random_, torch.Tensor.exponential_,
             torch.Tensor.cauchy_, torch.Tensor.log_normal_, torch.Tensor.geometric_}
_OTHER_RANDOM = {torch.bernoulli, torch.Tensor.bernoulli, torch.Tensor.bernoulli_, torch.multinomial,
                 torch.Tensor.multinomial, torch.normal, torch.poisson, torch.randperm, torch.dropout,
                 torch.nn.functional.dropout, torch.nn.functional.dropout1d, torch.nn.functional.dropout2d,
                 torch.nn.functional.dropout3d, torch.nn.functional.alpha_dropout,
                 torch.nn.functional.feature_alpha_dropout, torch.nn.functional.gumbel_softmax,
                 torch.nn.functional.rrelu, torch.alpha_dropout, torch.feature_dropout}


def _shape_arg(args: tuple, kwargs: dict) -> tuple[str, int | None, tuple[int, ...]] | None:
    """Where a factory's shape is: ('kw', None, shape), ('arg', index, shape) for a tuple argument, or
    ('varargs', index of the first int, shape) for torch.randn(2, 3)."""
    if "size" in kwargs:
        return "kw", None, tuple(kwargs["size"])
    for i, a in enumerate(args):
        if isinstance(a, (tuple, list, torch.Size)):
            return "arg", i, tuple(a)
    ints = [i for i, a in enumerate(args) if isinstance(a, int) and not isinstance(a, bool)]
    if ints and ints == list(range(ints[0], len(args))):
        return "varargs", ints[0], tuple(args[ints[0]:])
    return None


class ShardedNoise(TorchFunctionMode):
    """Inside a data-parallel training step: draws with the local batch ``batch`` in some dimension are drawn at
    ``world.size * batch`` there and sliced to this rank's rows; other random operations run on a per-rank fork
    of the random stream (see the module docstring)."""

    def __init__(self, world: World, batch: int):
        super().__init__()
        self.world, self.batch = world, batch

    def _dim(self, shape: tuple[int, ...]) -> int | None:
        return next((i for i, s in enumerate(shape) if s == self.batch), None) if self.batch > 1 else None

    def _slice(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        return t.narrow(dim, self.world.rank * self.batch, self.batch)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SHAPED:
            where = _shape_arg(args, kwargs)
            dim = self._dim(where[2]) if where else None
            if dim is not None:
                kind, i, shape = where
                big = list(shape)
                big[dim] *= self.world.size
                if kind == "kw":
                    kwargs = {**kwargs, "size": tuple(big)}
                elif kind == "arg":
                    args = (*args[:i], tuple(big), *args[i + 1:])
                else:
                    args = (*args[:i], *big)
                return self._slice(func(*args, **kwargs), dim).contiguous()
        elif func in _LIKE and args and torch.is_tensor(args[0]):
            dim = self._dim(tuple(args[0].shape))
            if dim is not None:
                return self._slice(func(self._global_like(args[0], dim), *args[1:], **kwargs), dim).clone(
                    memory_format=torch.preserve_format)
        elif func in _IN_PLACE and args and torch.is_tensor(args[0]):
            dim = self._dim(tuple(args[0].shape))
            if dim is not None:
                big = func(self._global_like(args[0], dim), *args[1:], **kwargs)
                with torch.no_grad():
                    args[0].copy_(self._slice(big, dim))
                return args[0]
        if func in _SHAPED or func in _LIKE or func in _IN_PLACE or func in _OTHER_RANDOM:
            return self._per_rank(func, args, kwargs)
        return func(*args, **kwargs)

    def _global_like(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        """An empty tensor like ``t`` with ``world.size`` times its rows in ``dim``, in its memory format (a
        channels-last draw fills memory in that order, as one process's would)."""
        shape = list(t.shape)
        shape[dim] *= self.world.size
        last = t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)
        fmt = torch.channels_last if last else torch.contiguous_format
        return torch.empty(shape, dtype=t.dtype, device=t.device).contiguous(memory_format=fmt)

    def _per_rank(self, func, args, kwargs):
        """``func`` on a fork of its generator seeded by one shared draw plus the rank: ranks draw different
        numbers, and every rank's stream advances by the same one draw."""
        gen = kwargs.get("generator")
        seed = int(torch.randint(0, 2**62, (), generator=gen)) + self.world.rank
        if gen is not None:
            after = gen.get_state()
            gen.manual_seed(seed)
            try:
                return func(*args, **kwargs)
            finally:
                gen.set_state(after)
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            if devices:
                torch.cuda.manual_seed(seed)
            return func(*args, **kwargs)


def noise_for(world: World, batch: int) -> Any:
    """The context a training step's random draws run in: ShardedNoise on several processes, else nothing."""
    import contextlib

    return ShardedNoise(world, batch) if world.distributed else contextlib.nullcontext()
