"""Diffusion models: parameter-free noise schedules (linear, cosine, respaced), the network's prediction
(epsilon, x0, v), the reverse step and its variational bound, and samplers apart from the network (DDPM,
DDIM, DPM-Solver++(2M)); the Diffusion model composes them with a UNet (``nn.unet``); classifier guidance by a
noise-aware classifier on x_t."""
from . import presets  # noqa: F401  (registers ddpm, improved-ddpm and their conditional forms)
from .classifier import ClassifierConfig, GuidanceClassifier
from .guidance import classifier_guided, log_prob_gradient
from .model import Diffusion, DiffusionConfig
from .parameterization import PREDICTIONS, target, to_x0_eps
from .reverse import VARIANCES, ReverseStep, reverse_step
from .samplers import SAMPLERS, ddim_sample, ddim_step, ddpm_sample, dpm_solver_2m_sample
from .schedule import NoiseSchedule, cosine_betas, linear_betas, spaced_timesteps
from .vlb import discretized_gaussian_log_likelihood, normal_kl, prior_kl, vlb_term

__all__ = ["ClassifierConfig", "Diffusion", "DiffusionConfig", "GuidanceClassifier", "NoiseSchedule", "PREDICTIONS",
           "ReverseStep", "SAMPLERS", "VARIANCES", "classifier_guided", "cosine_betas", "ddim_sample", "ddim_step",
           "ddpm_sample", "discretized_gaussian_log_likelihood", "dpm_solver_2m_sample", "linear_betas",
           "log_prob_gradient", "normal_kl", "prior_kl", "reverse_step", "spaced_timesteps",
           "target", "to_x0_eps", "vlb_term"]
