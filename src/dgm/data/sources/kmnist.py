"""Kuzushiji-MNIST (Clanuwat et al. 2018): cursive Japanese characters in MNIST's IDX format, 60k/10k, 1x28x28."""
from __future__ import annotations

from .idx import idx_spec

# sha256 of the official .gz files; the same values are pinned by several public loaders (TFDS-style checksum
# tables and torchvision ports), whereas torchvision itself only lists md5s.
idx_spec(
    "kmnist",
    ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    {
        "train-images-idx3-ubyte": "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
        "train-labels-idx1-ubyte": "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
        "t10k-images-idx3-ubyte": "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
        "t10k-labels-idx1-ubyte": "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
    },
    "Kuzushiji-MNIST cursive Japanese characters, 60k/10k, 1x28x28 (Clanuwat et al. 2018)",
)
