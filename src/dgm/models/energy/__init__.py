"""Energy-based models: restricted Boltzmann machines trained by contrastive divergence, and the estimates of
their partition function (exact enumeration, annealed importance sampling)."""
