"""The registered diffusion models: the one Diffusion class with each paper's settings."""
from __future__ import annotations

from ..registry import register_model
from .model import Diffusion

DDPM = {"schedule": "linear", "steps": 1000, "prediction": "epsilon", "variance": "fixed-large", "loss": "simple"}
# Nichol & Dhariwal's best likelihood setting; their T is 4000 (`--set model.steps=4000`), 1000 here keeps the
# full bound (T network passes per image) affordable on a CPU
IMPROVED = {"schedule": "cosine", "steps": 1000, "prediction": "epsilon", "variance": "learned-range",
            "loss": "hybrid", "vlb_weight": 0.001}
CONDITIONAL = {"conditional": True, "label_dropout": 0.1}

register_model("ddpm", Diffusion, "DDPM (Ho et al. 2020): linear betas, T=1000, epsilon prediction, simple loss, "
               "UNet", preset=DDPM)
register_model("improved-ddpm", Diffusion, "improved DDPM (Nichol & Dhariwal 2021): cosine schedule, learned "
               "variances, hybrid loss", preset=IMPROVED, train={"lr": 1e-4})
register_model("ddpm-cfg", Diffusion, "class-conditional DDPM with classifier-free guidance (Ho & Salimans 2022): "
               "labels dropped 10% of the time", preset={**DDPM, **CONDITIONAL})
register_model("improved-ddpm-cfg", Diffusion, "class-conditional improved DDPM with classifier-free guidance",
               preset={**IMPROVED, **CONDITIONAL}, train={"lr": 1e-4})
