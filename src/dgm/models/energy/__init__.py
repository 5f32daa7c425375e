"""Energy-based models: restricted Boltzmann machines (binary and Gaussian-Bernoulli) as layers trained by
contrastive divergence, the models built from them (RBM, GRBM, deep belief network), and the estimates of their
partition functions (exact enumeration, annealed importance sampling)."""
