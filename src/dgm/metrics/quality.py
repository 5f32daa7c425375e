"""Sample-quality metrics against a reference split: FID, KID, IS, precision/recall, density/coverage and
the class histogram, all from one feature network, with reference features cached on disk."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..data.dataset import ImageDataset
from .features import FeatureNet
from .fid import fid
from .inception_score import class_histogram, inception_score
from .kid import kid
from .precision_recall import precision_recall

QUALITY_METRICS = ("fid", "kid", "is", "pr", "classes")


def cache_dir() -> Path:
    """$DGM_CACHE_DIR/features, else ~/.cache/dgm/features."""
    root = os.environ.get("DGM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "dgm")
    return Path(root) / "features"


def reference_features(net: FeatureNet, data: ImageDataset, use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and class probabilities of a dataset, cached by (feature network, data checksum)."""
    key = hashlib.sha256(f"{net.name}:{data.checksum()}".encode()).hexdigest()[:20]
    path = cache_dir() / f"{net.name}-{data.info.name.replace(':', '_').replace('/', '_')}-{data.info.split}-{key}.safetensors"
    if use_cache and path.is_file():
        try:
            t = load_file(str(path))
            return t["features"], t["probs"]
        except Exception:  # a damaged cache entry is recomputed, never trusted
            path.unlink(missing_ok=True)
    feats, probs = net(data.data)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp-{os.getpid()}")
            save_file({"features": feats.contiguous(), "probs": probs.contiguous()}, str(tmp))
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs time
    return feats, probs


# the fewest samples each metric is defined for: a covariance needs 2, k-NN balls (k = 3) need 4 points
MIN_SAMPLES = {"fid": 2, "kid": 2, "is": 1, "pr": 4, "classes": 1}


def sample_quality(samples: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor], net: FeatureNet,
                   metrics: tuple[str, ...] = QUALITY_METRICS, pr_n: int = 5000, seed: int = 0,
                   labels: torch.Tensor | None = None) -> dict[str, object]:
    """samples: uint8 (N, C, H, W) (or float in [0, 1]) -> the chosen metrics against the reference features.

    Precision/recall use at most ``pr_n`` points a side (k-NN over all pairs is quadratic). With the labels
    (N,) the samples were asked for (conditional or guided sampling), "classes" adds ``label_agreement``: the
    fraction the feature network's classifier puts in the requested class."""
    short = {m: need for m, need in MIN_SAMPLES.items() if m in metrics and len(samples) < need}
    if short:
        from ..errors import DataError

        raise DataError(f"{len(samples)} samples are too few for " + ", ".join(f"{m} (needs {n})" for m, n in
                                                                            short.items()) + "; pass more images")
    feats, probs = net(samples)
    ref_feats, _ = reference
    out: dict[str, object] = {}
    if "fid" in metrics:
        out["fid"] = fid(feats, ref_feats)
    if "kid" in metrics:
        out["kid"] = kid(feats, ref_feats, seed=seed)
    if "is" in metrics:
        out["is"] = inception_score(probs)
    if "pr" in metrics:
        g = torch.Generator().manual_seed(seed)
        a = feats[torch.randperm(len(feats), generator=g)[:pr_n]]
        b = ref_feats[torch.randperm(len(ref_feats), generator=g)[:pr_n]]
        out["pr"] = precision_recall(b, a)
    if "classes" in metrics:
        out["classes"] = class_histogram(probs)
        if labels is not None:
            if len(labels) != len(samples):
                raise ValueError(f"{len(labels)} labels for {len(samples)} samples")
            out["label_agreement"] = float((probs.argmax(1) == labels.to(probs.device)).double().mean())
    return out
