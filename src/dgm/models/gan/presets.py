"""The registered GAN variants: each is the one GAN class with its paper's config values and training settings."""
from __future__ import annotations

from ..registry import register_model
from .model import GAN

DCGAN_TRAIN = {"lr": 2e-4, "betas": (0.5, 0.999), "optimizer": "adam"}
# what the documented MNIST figures ran with (benchmarks/results/gan_mnist.jsonl, docs/gan.md): an EMA of G's
# weights to sample from, channels-last convs, and bf16 where the CPU has it natively (quality parity recorded
# for DCGAN); `--set train.precision=fp32` forces fp32, `--set train.ema_decay=null` drops the EMA
FAST_CONV = {"ema_decay": 0.999, "precision": "auto", "channels_last": True}

register_model(
    "gan", GAN, "GAN (Goodfellow et al. 2014): MLPs, minimax objective",
    preset={"networks": {"architecture": "mlp", "init": "default"}, "objective": "minimax"},
    train={**DCGAN_TRAIN, "batch_size": 100, "steps": 20_000})
# The dcgan preset trains with InfoGAN's MNIST rates for the same nets (batch 64, G at 1e-3, D at train.lr 2e-4),
# not Radford et al.'s 2e-4 / 128: in 15 fp32 CPU minutes on MNIST they gave IS 9.09 / 9.24 / 9.04 (seeds 0-2)
# where the paper's rates gave 8.81 (benchmarks/results/gan_mnist.jsonl, docs/gan.md); chosen on MNIST only.
# The paper's rates are `--batch-size 128 --set model.schedule.lr_g=null`.
register_model(
    "dcgan", GAN, "DCGAN (Radford et al. 2016): conv nets with batch norm, non-saturating loss, FC 1024 layer; "
    "InfoGAN's MNIST rates",
    preset={"networks": {"architecture": "dcgan", "fc_hidden": 1024}, "schedule": {"lr_g": 1e-3}},
    train={**DCGAN_TRAIN, **FAST_CONV, "batch_size": 64, "steps": 10_000})
register_model(
    "cgan", GAN, "conditional GAN (Mirza & Osindero 2014): one-hot labels into G and D (DCGAN nets)",
    preset={"conditioning": {"generator": "concat", "discriminator": "concat"}, "networks": {"fc_hidden": 1024}},
    train={**DCGAN_TRAIN, **FAST_CONV, "batch_size": 128, "steps": 10_000})
register_model(
    "acgan", GAN, "AC-GAN (Odena et al. 2017): labels into G, auxiliary classifier on D (DCGAN nets)",
    preset={"conditioning": {"generator": "concat", "discriminator": "auxiliary"}, "networks": {"fc_hidden": 1024}},
    train={**DCGAN_TRAIN, **FAST_CONV, "batch_size": 100, "steps": 10_000})
register_model(
    "lsgan", GAN, "LSGAN (Mao et al. 2017): least-squares objective, a=0 b=1 c=1 (DCGAN nets)",
    preset={"objective": "least-squares"}, train={**DCGAN_TRAIN, "batch_size": 64, "steps": 10_000})
register_model(
    "wgan", GAN, "WGAN (Arjovsky et al. 2017): Wasserstein critic, weight clipping 0.01, 5 critic steps, RMSProp",
    preset={"objective": "wasserstein", "penalties": {"clip": {"bound": 0.01}}, "schedule": {"n_critic": 5}},
    train={"optimizer": "rmsprop", "lr": 5e-5, "batch_size": 64, "steps": 50_000})
register_model(
    "wgan-gp", GAN, "WGAN-GP (Gulrajani et al. 2017): gradient penalty 10, layer-norm critic, 5 critic steps",
    preset={"objective": "wasserstein", "penalties": {"gp": {"weight": 10.0}}, "schedule": {"n_critic": 5},
            "networks": {"d_norm": "layer"}},
    train={"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "batch_size": 64, "steps": 50_000})
register_model(
    "hinge-gan", GAN, "hinge-loss GAN (Lim & Ye 2017, Geometric GAN) on DCGAN nets",
    preset={"objective": "hinge", "networks": {"fc_hidden": 1024}}, train={**DCGAN_TRAIN, **FAST_CONV, "batch_size": 64, "steps": 10_000})
register_model(
    "sngan", GAN, "SN-GAN (Miyato et al. 2018): spectrally normalised D without batch norm, hinge loss",
    preset={"objective": "hinge", "networks": {"spectral_norm": "discriminator", "d_norm": "none"}},
    train={**DCGAN_TRAIN, **FAST_CONV, "batch_size": 64, "steps": 20_000})
register_model(
    "sagan", GAN, "SAGAN (Zhang et al. 2019): ResNet G/D with self-attention, SN on both, hinge, TTUR",
    preset={"networks": {"architecture": "resnet", "attention": True, "spectral_norm": "both", "init": "orthogonal"},
            "objective": "hinge", "schedule": {"lr_d": 4e-4, "lr_g": 1e-4}},
    train={"optimizer": "adam", "lr": 1e-4, "betas": (0.0, 0.9), "batch_size": 64, "steps": 20_000})
register_model(
    "biggan-small", GAN, "small BigGAN (Brock et al. 2019): SAGAN + conditional BN with shared embedding and "
    "hierarchical z, projection D, orthogonal reg., 2 D steps, EMA of G",
    preset={"networks": {"architecture": "resnet", "attention": True, "spectral_norm": "both", "init": "orthogonal"},
            "objective": "hinge", "conditioning": {"generator": "cbn", "discriminator": "projection"},
            "regularisers": {"ortho": {"weight": 1e-4}}, "schedule": {"n_critic": 2, "lr_d": 2e-4, "lr_g": 5e-5},
            "latent_dim": 120},
    train={"optimizer": "adam", "lr": 5e-5, "betas": (0.0, 0.999), "batch_size": 64, "steps": 20_000,
           "ema_decay": 0.999})
register_model(
    "infogan", GAN, "InfoGAN (Chen et al. 2016): 10-way categorical + 2 continuous codes, Q head on D's trunk, "
    "the paper's MNIST nets (DCGAN convs + FC 1024)",
    preset={"codes": {"categorical": 10, "continuous": 2}, "latent_dim": 62, "schedule": {"lr_d": 2e-4, "lr_g": 1e-3},
            "networks": {"fc_hidden": 1024}},
    train={**DCGAN_TRAIN, **FAST_CONV, "batch_size": 64, "steps": 10_000})
register_model(
    "unrolled-gan", GAN, "unrolled GAN (Metz et al. 2017): G's loss through 5 unrolled Adam steps of D (second order)",
    preset={"schedule": {"unroll_steps": 5, "unroll_optimizer": "adam"}, "networks": {"mlp_hidden": (128, 128)},
            "latent_dim": 64},
    train={**DCGAN_TRAIN, "lr": 1e-4, "batch_size": 512, "steps": 20_000})
# StyleGAN2 at 28-32 pixels: the paper's config-f structure (style mixing 0.9, path length 2 every 4 steps, lazy
# R1 every 16, minibatch std, EMA of G, Adam (0, 0.99) at 2.5e-3) with ADA's CIFAR-10 choices for small images
# (a 2-layer mapping network, R1 gamma 0.01) and CPU-sized widths (64 channels at every resolution); not tuned.
register_model(
    "stylegan2", GAN, "StyleGAN2 (Karras et al. 2020): mapping network, modulated/demodulated convs with noise, skip G, "
    "residual D, style mixing, path-length regularisation, lazy R1, minibatch std",
    preset={"networks": {"architecture": "stylegan2", "init": "default", "mapping_layers": 2, "style_mixing": 0.9},
            "objective": "non-saturating", "penalties": {"r1": {"weight": 0.01, "every": 16}},
            "regularisers": {"path_length": {"weight": 2.0, "every": 4}}, "tricks": {"minibatch_std": {}},
            "latent_dim": 128},
    train={"optimizer": "adam", "lr": 2.5e-3, "betas": (0.0, 0.99), "batch_size": 32, "steps": 20_000,
           "ema_decay": 0.999})
# ProGAN at 28-32 pixels: the paper's recipe (progressive growing with fade-in, equalised lr, pixel norm, minibatch
# std, WGAN-GP lambda 10 with drift 0.001, Adam 1e-3 (0, 0.99), n_critic 1) with 60k images (an MNIST epoch) per
# fade-in and per stabilising phase and CPU-sized widths (64 channels at every resolution); not tuned.
register_model(
    "progan", GAN, "ProGAN (Karras et al. 2018): progressive growing 4 -> 8 -> 16 -> 32 with fade-in, equalised lr, "
    "pixel norm, minibatch std, WGAN-GP with the drift term",
    preset={"networks": {"architecture": "progan", "init": "default"}, "objective": "wasserstein",
            "penalties": {"gp": {"weight": 10.0}, "drift": {"weight": 0.001}}, "tricks": {"minibatch_std": {}},
            "schedule": {"grow_images": 60_000}, "latent_dim": 128},
    train={"optimizer": "adam", "lr": 1e-3, "betas": (0.0, 0.99), "batch_size": 32, "steps": 20_000,
           "ema_decay": 0.999})
# StyleGAN at 28-32 pixels: mapping network, AdaIN with noise, style mixing 0.9, truncation in W; the paper's
# non-saturating loss with R1 (gamma 10 in the paper; ADA's 0.01 for small images here), ProGAN's discriminator at
# full resolution (no progressive growing), Adam 1e-3 (0, 0.99); CPU-sized (64 channels); not tuned.
register_model(
    "stylegan", GAN, "StyleGAN (Karras et al. 2019): mapping network, AdaIN layers with noise on a learned constant, "
    "style mixing, truncation in W; ProGAN's D, non-saturating loss with R1 (no progressive growing)",
    preset={"networks": {"architecture": "stylegan", "init": "default", "mapping_layers": 2, "style_mixing": 0.9},
            "objective": "non-saturating", "penalties": {"r1": {"weight": 0.01}}, "tricks": {"minibatch_std": {}},
            "latent_dim": 128},
    train={"optimizer": "adam", "lr": 1e-3, "betas": (0.0, 0.99), "batch_size": 32, "steps": 20_000,
           "ema_decay": 0.999})
