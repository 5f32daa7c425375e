"""Energy-based models: restricted Boltzmann machines (binary and Gaussian-Bernoulli) as layers trained by
contrastive divergence, the models built from them (RBM, GRBM, deep belief and deep Boltzmann machines), their
shared Gibbs sampler, and the estimates of their partition functions (exact enumeration, annealed importance
sampling)."""
