"""Classical generative models fitted without gradients: mixtures by expectation-maximisation (Gaussian, Bernoulli).

They run on the manual training path (``training_step`` does one EM iteration per batch) and keep their
parameters as float64 buffers, so checkpoints, resume, sampling and evaluation are the other families'.
"""
