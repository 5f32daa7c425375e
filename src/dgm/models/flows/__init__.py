"""Normalizing flows: bijectors (couplings, ActNorm, invertible 1x1 convs, squeeze, factor-out, logit, RevNet
blocks and reversible sequences), base distributions, and the NICE, RealNVP and Glow models composed from them."""
from . import glow, irevnet, nice, realnvp  # noqa: F401  (registers the models)
from .base_dist import StandardLogistic, StandardNormal, base_distributions
from .bijector import Bijector, Chain, bijectors
from .coupling import ConvNet, Coupling, MLPNet
from .invconv import InvConv1x1, InvConv1x1LU
from .model import FlowConfig, FlowModel
from .normalization import ActNorm, Scaling
from .preprocess import Affine, Logit, preprocessing
from .reshape import FactorOut, Squeeze
from .reversible import RevBlock, ReversibleSequence, i_revnet, rev_block

__all__ = ["ActNorm", "Affine", "Bijector", "Chain", "ConvNet", "Coupling", "FactorOut", "FlowConfig", "FlowModel",
           "InvConv1x1", "InvConv1x1LU", "Logit", "MLPNet", "RevBlock", "ReversibleSequence", "Scaling", "Squeeze", "StandardLogistic",
           "StandardNormal", "base_distributions", "bijectors", "i_revnet", "preprocessing", "rev_block"]
