"""Dataset sources: each module parses one file format and registers its datasets on import."""
from . import binarized_mnist, celeba, cifar, dsprites, frey, idx, kmnist, svhn, toy2d  # noqa: F401
