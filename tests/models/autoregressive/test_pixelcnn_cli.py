"""A class-conditional gated PixelCNN through the CLI: train, then sample chosen classes."""
import numpy as np
import pytest

from dgm.cli.main import main


@pytest.mark.slow
def test_train_and_sample_by_class(tmp_path):
    run = tmp_path / "gated"
    sets = ["--set", "model.channels=8", "--set", "model.layers=2", "--set", "model.out_hidden=8",
            "--set", "model.class_conditional=true"]
    assert main(["train", "gated-pixelcnn", "--steps", "2", "--batch-size", "8", "--out", str(run), "--no-progress",
                 *sets]) == 0
    out = tmp_path / "s.npz"
    assert main(["sample", str(run), "-n", "6", "--labels", "3,7", "--out", str(out), "--seed", "1"]) == 0
    with np.load(out) as f:
        assert f["images"].shape == (6, 1, 28, 28) and f["images"].dtype == np.uint8
        assert f["labels"].tolist() == [3, 7, 3, 7, 3, 7]
