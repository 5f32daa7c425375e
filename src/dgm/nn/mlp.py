"""Multi-layer perceptron with a named activation."""
from __future__ import annotations

from torch import nn

from .equalized import EqualizedLinear

ACTIVATIONS = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "softplus": nn.Softplus,
    "leaky_relu": lambda: nn.LeakyReLU(0.2), "silu": nn.SiLU,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (relu, tanh, elu, softplus, leaky_relu (slope 0.2), silu)."""
    return ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """in_dim -> hidden... -> out_dim, activation between layers (none after the last); ``equalized``: layers with
    the equalised learning rate (nn.equalized) instead of nn.Linear."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int, act: str = "relu",
                 equalized: bool = False):
        linear = EqualizedLinear if equalized else nn.Linear
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [linear(d, h), activation(act)]
            d = h
        layers.append(linear(d, out_dim))
        super().__init__(*layers)
