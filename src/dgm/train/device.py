"""Where training runs: ``auto`` (CUDA when available, else the CPU), ``cpu``, or ``cuda[:N]``.

The model, its EMA copy and every batch live on the resolved device; data stays in memory as uint8 on the CPU
and is transformed there with the trainer's seeded generator (so a seed gives the same batches on every
device), then moved. Samplers draw their noise on the CPU and move it, for the same reason.
"""
from __future__ import annotations

import contextlib
import re

import torch

from ..errors import ConfigError

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(name: str) -> None:
    """Raise ConfigError unless ``name`` is auto, cpu, cuda or cuda:N."""
    if not DEVICE_PATTERN.fullmatch(name):
        raise ConfigError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when torch sees a GPU, else cpu; 'cpu' is honoured on a machine with a GPU; 'cuda[:N]'
    without a usable GPU is a ConfigError that says what to do."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU visible"
            raise ConfigError(f"--device {name}: torch {torch.__version__} ({build}) cannot use CUDA here; use "
                              "--device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) visible "
                              f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return device


@contextlib.contextmanager
def flush_denormals(device: torch.device):
    """On the CPU, treat subnormal floats (below 1.2e-38 in fp32) as zero while the block runs, then restore
    PyTorch's default: products with subnormal operands take microcode assists (an RBM's sigmoids of its
    hidden inputs underflow into that range and its training step runs 1.85x slower); no model here depends on
    values that small. Other devices are left alone."""
    if device.type != "cpu":
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
