"""Decoder likelihood heads shared by VAEs, autoencoders and (later) autoregressive models.

A head turns raw network outputs into a torch distribution over one sample (the loss asks it for
``log_prob``; no string switches on loss names), names the input transform its data needs, and gives
the correction that turns a continuous density into a bound on the 8-bit discrete likelihood.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from ..registry import Registry


class LikelihoodHead:
    """params: (..., params_per_dim * C, H, W) -> a distribution with event shape (C, H, W)."""

    params_per_dim = 1
    input_transform = "unit"

    def __init__(self, event_dims: int, **options):
        self.event_dims = event_dims

    def distribution(self, params: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The expected sample, clamped to [0, 1] (images) — what sample grids show."""
        raise NotImplementedError

    def draw(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One sample per set of parameters, from ``generator`` (noise drawn on the CPU, then moved to the
        parameters' device), clamped to [0, 1] for images."""
        raise NotImplementedError(f"{type(self).__name__} has no seeded sampler")

    def discrete_correction(self, dims: int) -> float:
        """Nats to add to log p(x) so that it lower-bounds (or equals) log P of the discrete data."""
        return 0.0

    noise_dims = 1  # uniforms consumed per value by ``quantile``

    def quantile(self, theta: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF sampling of single values: theta (..., P) parameters, u (..., noise_dims) uniforms ->
        values (...). Autoregressive samplers pre-draw u so that different samplers draw identical values."""
        raise NotImplementedError(f"{type(self).__name__} has no inverse-CDF sampler")


heads: Registry[type[LikelihoodHead]] = Registry("likelihood")


@heads.register("bernoulli", help="binary pixels; data dynamically binarised")
class BernoulliHead(LikelihoodHead):
    input_transform = "binary"

    def distribution(self, params):
        return Independent(Bernoulli(logits=params, validate_args=False), self.event_dims, validate_args=False)

    def mean(self, params):
        return torch.sigmoid(params)

    def draw(self, params, generator=None):
        u = torch.rand(params.shape, generator=generator, dtype=params.dtype).to(params.device)
        return (u < torch.sigmoid(params)).to(params.dtype)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Fast path: log p(x) summed over event dims, straight from logits."""
        ll = -F.binary_cross_entropy_with_logits(params, x.expand_as(params), reduction="none")
        return ll.flatten(-self.event_dims).sum(-1)

    def quantile(self, theta, u):
        return (u[..., 0] < torch.sigmoid(theta[..., 0])).to(theta.dtype)


class _GaussianBase(LikelihoodHead):
    # Uniformly dequantised 8-bit data x = (k + u) / 256 has log P(k) >= E_u log p(x) - D log 256.
    input_transform = "dequantized"

    def discrete_correction(self, dims):
        return -dims * math.log(256.0)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).log_prob(x)

    def draw(self, params, generator=None):
        normal = self.distribution(params).base_dist
        eps = torch.randn(normal.loc.shape, generator=generator, dtype=normal.loc.dtype).to(normal.loc.device)
        return self.clamp(normal.loc + normal.scale * eps)

    def clamp(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1)


@heads.register("gaussian", help="Gaussian with fixed std (gaussian_std); data dequantised to [0, 1)")
class GaussianFixedHead(_GaussianBase):
    def __init__(self, event_dims: int, gaussian_std: float = 0.1, **options):
        super().__init__(event_dims)
        self.std = gaussian_std

    def distribution(self, params):
        return Independent(Normal(params, self.std, validate_args=False), self.event_dims, validate_args=False)

    def mean(self, params):
        return params.clamp(0, 1)


@heads.register("gaussian_learned", help="Gaussian with a learned per-pixel std; data dequantised to [0, 1)")
class GaussianLearnedHead(_GaussianBase):
    params_per_dim = 2
    min_std = 1e-3  # keeps the density bounded on dequantised data

    def _split(self, params):
        axis = -self.event_dims
        loc, raw = params.chunk(2, dim=axis)
        return loc, F.softplus(raw) + self.min_std

    def distribution(self, params):
        loc, scale = self._split(params)
        return Independent(Normal(loc, scale, validate_args=False), self.event_dims, validate_args=False)

    def mean(self, params):
        return self._split(params)[0].clamp(0, 1)


@heads.register("gaussian_points", help="Gaussian with a learned std for 2-D points")
class GaussianPointsHead(GaussianLearnedHead):
    input_transform = "unit"

    def discrete_correction(self, dims):
        return 0.0

    def mean(self, params):
        return self._split(params)[0]

    def clamp(self, x):
        return x  # points are unbounded


class DiscreteValues(Distribution):
    """The distribution a discrete 8-bit head describes, over values x = k / 255 (event shape (C, H, W))."""

    arg_constraints: dict = {}

    def __init__(self, head: "LikelihoodHead", params: torch.Tensor):
        self.head, self.params = head, params
        batch = params.shape[:-head.event_dims]
        event = (params.shape[-head.event_dims] // head.params_per_dim, *params.shape[1 - head.event_dims:])
        super().__init__(batch, torch.Size(event), validate_args=False)

    @property
    def mean(self):
        return self.head.mean(self.params)

    def log_prob(self, value):
        return self.head.log_prob(self.params, value)

    def sample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None):
        shape = (*sample_shape, *self.batch_shape, *self.event_shape)
        u = torch.rand((*shape, self.head.noise_dims), generator=generator, dtype=self.params.dtype)
        u = u.to(self.params.device)  # drawn on the CPU: the same values on every device
        return self.head.quantile(self.head.per_value(self.params).expand(*shape, -1), u)


class _EightBitHead(LikelihoodHead):
    """Exact likelihood of 8-bit values, given as x = k / 255 (the "unit" transform); no correction needed.

    Parameters are laid out (P, C) along the channel axis (index p * C + c), so each data channel's
    parameters form the channel group a PixelCNN's channel masks give it.
    """

    input_transform = "unit"
    levels = 256

    def per_value(self, params: torch.Tensor) -> torch.Tensor:
        """(..., P*C, H, W) -> (..., C, H, W, P): the parameters of each value along the last axis."""
        p = params.unflatten(-self.event_dims, (self.params_per_dim, -1))
        return p.movedim(-self.event_dims - 1, -1)

    def distribution(self, params):
        return DiscreteValues(self, params)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log P(x) in nats summed over event dims, (...); x (..., C, H, W) = k / 255."""
        ll = self.log_prob_values(self.per_value(params), x)
        return ll.flatten(-self.event_dims).sum(-1)

    def log_prob_values(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@heads.register("categorical", help="256-way softmax per 8-bit value (PixelCNN); exact discrete likelihood")
class CategoricalHead(_EightBitHead):
    params_per_dim = 256

    def log_prob_values(self, theta, x):
        k = (x * 255).round().long().clamp(0, 255)
        k = k.expand(theta.shape[:-1]).unsqueeze(-1)
        return (theta.gather(-1, k).squeeze(-1) - theta.logsumexp(-1))

    def mean(self, params):
        probs = self.per_value(params).softmax(-1)
        return probs @ torch.arange(256, dtype=probs.dtype, device=probs.device).div(255)

    def quantile(self, theta, u):
        cdf = theta.softmax(-1).cumsum(-1)
        k = (cdf < u[..., :1]).sum(-1).clamp(max=255)
        return k.to(theta.dtype) / 255


@heads.register("logistic_mixture", help="PixelCNN++ discretised logistic mixture per 8-bit value "
                "(Salimans et al. 2017); option mixtures")
class DiscretizedLogisticMixtureHead(_EightBitHead):
    """A mixture of ``mixtures`` logistics per value, integrated over the value's bin [x - 1/510, x + 1/510];
    the edge bins (k = 0 and 255) take the tails. PixelCNN++'s model on [-1, 1], rescaled to [0, 1]; its
    colour-channel coupling is left to the network's channel masks instead."""

    noise_dims = 2  # the component, then the logistic draw
    half_bin = 0.5 / 255
    min_log_scale = -7.0 - math.log(2.0)  # PixelCNN++'s -7 on [-1, 1]

    def __init__(self, event_dims: int, mixtures: int = 5, **options):
        super().__init__(event_dims)
        self.mixtures = mixtures
        self.params_per_dim = 3 * mixtures

    def _split(self, theta):
        logit_pi, mu, log_s = theta.unflatten(-1, (3, self.mixtures)).unbind(-2)
        return logit_pi, mu, log_s.clamp(min=self.min_log_scale)

    def log_prob_values(self, theta, x):
        logit_pi, mu, log_s = self._split(theta)
        x = x.unsqueeze(-1)
        centered, inv_s = x - mu, torch.exp(-log_s)
        plus_in, min_in = inv_s * (centered + self.half_bin), inv_s * (centered - self.half_bin)
        cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
        mid_in = inv_s * centered
        log_pdf_mid = mid_in - log_s - 2.0 * F.softplus(mid_in)
        # the bin's mass, or the density times the bin width where the difference of CDFs underflows
        log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)),
                              log_pdf_mid + math.log(2 * self.half_bin))
        lp = torch.where(x < self.half_bin, F.logsigmoid(plus_in),  # k = 0: everything below the bin's top
                         torch.where(x > 1 - self.half_bin, -F.softplus(min_in), log_mid))  # k = 255: the tail
        return torch.logsumexp(lp + logit_pi.log_softmax(-1), -1)

    def mean(self, params):
        logit_pi, mu, _ = self._split(self.per_value(params))
        return (logit_pi.softmax(-1) * mu.clamp(0, 1)).sum(-1)

    def quantile(self, theta, u):
        logit_pi, mu, log_s = self._split(theta)
        cdf = logit_pi.softmax(-1).cumsum(-1)
        comp = (cdf < u[..., :1]).sum(-1, keepdim=True).clamp(max=self.mixtures - 1)
        m, s = mu.gather(-1, comp).squeeze(-1), log_s.gather(-1, comp).squeeze(-1).exp()
        v = u[..., 1].clamp(1e-5, 1 - 1e-5)
        x = m + s * (torch.log(v) - torch.log1p(-v))
        return (x.clamp(0, 1) * 255).round() / 255


def make_head(name: str, event_dims: int, **options) -> LikelihoodHead:
    return heads.get(name)(event_dims, **options)
