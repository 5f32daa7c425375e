"""Perceptual path length (Karras et al. 2019, StyleGAN section 4.2): how much the image changes, perceptually,
for a small step along an interpolation of latents,

    PPL = E_t [ d(G(lerp(z1, z2; t)), G(lerp(z1, z2; t + eps))) / eps^2 ],   t ~ U(0, 1),

spherical interpolation in Z, linear in W (the mapped w of a style-based generator). The distance d here is the
squared L2 distance between unit-normalised features of the bundled feature network, standing in for LPIPS
(which normalises each layer's channels the same way and needs weights this project does not ship); values are
therefore comparable between runs of dgm, not with published PPL figures. As in StyleGAN2's code, the per-pair
values outside the 1st-99th percentiles are dropped before averaging. Both endpoints of a pair get the same
generator noise.
"""
from __future__ import annotations

import dataclasses

import torch

from ..errors import ConfigError
from .features import FeatureNet


def slerp_rows(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the last dimension: a, b (..., L), t broadcastable to (..., 1) -> (..., L)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def path_length_distances(model, net: FeatureNet, n: int, space: str = "z", eps: float = 1e-4,
                          batch_size: int = 100, seed: int = 0) -> torch.Tensor:
    """The n per-pair values d / eps^2 (n,) of ``model`` (a GAN: ``draw`` / ``render``; for W also
    ``render_styles`` and a style-based generator)."""
    if space not in ("z", "w"):
        raise ConfigError(f"path length space {space!r}: choose z or w")
    if space == "w" and not getattr(model, "style_based", False):
        raise ConfigError("perceptual path length in W needs a style-based generator (stylegan2); use Z")
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        one = model.draw(b, generator=g)
        two = model.draw(b, labels=one.labels, generator=g)  # a pair shares its label
        t = torch.rand(b, 1, generator=g)
        noise = int(torch.randint(0, 2 ** 62, (), generator=g))
        if space == "z":
            pair = [model.render(dataclasses.replace(one, z=slerp_rows(one.z, two.z, u.to(one.z.device))), noise)
                    for u in (t, t + eps)]
        else:
            gen = model.generator
            wa, wb = (gen.map(lat.generator_input(model.categories), lat.labels) for lat in (one, two))
            pair = [model.render_styles(gen.broadcast(torch.lerp(wa, wb, u.to(wa.device))), noise)
                    for u in (t, t + eps)]
        f0, f1 = (_unit(net(x.float().cpu())[0]) for x in pair)
        out.append((f0 - f1).pow(2).sum(1) / eps ** 2)
    return torch.cat(out)


def perceptual_path_length(model, net: FeatureNet, n: int, space: str = "z", eps: float = 1e-4,
                           batch_size: int = 100, seed: int = 0) -> dict[str, object]:
    """PPL record: the mean of the per-pair values within their 1st-99th percentiles, with its protocol."""
    d = path_length_distances(model, net, n, space, eps, batch_size, seed).double()
    lo, hi = torch.quantile(d, 0.01), torch.quantile(d, 0.99)
    kept = d[(d >= lo) & (d <= hi)]
    return {"value": float(kept.mean()), "space": space, "pairs": n, "kept": int(kept.numel()), "epsilon": eps,
            "distance": f"squared L2 of unit-normalised {net.name} features (in place of LPIPS)",
            "interpolation": "slerp" if space == "z" else "lerp", "seed": seed}
