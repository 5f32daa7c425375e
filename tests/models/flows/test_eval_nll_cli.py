"""`dgm eval RUN --metrics nll --json` reports the test NLL in nats and bits/dim for every model with log_prob,
with the input transform and (for flows) the dequantisation convention in the record."""
import json
import math

import pytest

from dgm.cli.main import main
from dgm.models import models

EXACT = ["pixelcnn", pytest.param("gated-pixelcnn", marks=pytest.mark.slow), "nice",
         pytest.param("realnvp", marks=pytest.mark.slow), "glow"]


@pytest.mark.parametrize("name", EXACT)
def test_eval_reports_nll_in_nats_and_bits_per_dim(name, tmp_path, capsys):
    tiny = [f"model.{k}={list(v) if isinstance(v, tuple) else v}" for k, v in models.get(name).cls.tiny.items()]
    sets = [a for kv in tiny for a in ("--set", kv)]
    run = tmp_path / name
    assert main(["train", name, "--steps", "2", "--batch-size", "8", "--out", str(run), "--no-progress", *sets]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "nll", "--json", "-n", "16"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    nll = record["metrics"]["nll"]
    flow = name in ("nice", "realnvp", "glow")  # a one-sample dequantisation bound, not an exact likelihood
    assert (nll["kind"], nll["estimator"]) == (("bound", "dequantised bound") if flow else ("exact", "exact"))
    assert nll["n"] == 16 and nll["stderr_nats"] > 0
    assert nll["bits_per_dim"] == pytest.approx(nll["nll_nats"] / (784 * math.log(2)))
    assert math.isfinite(nll["nll_nats"]) and nll["nll_nats"] > 0
    if flow:
        assert nll["input_transform"] == "dequantized" and "D ln 256" in nll["likelihood_note"]
    else:
        assert nll["input_transform"] == "unit"  # 8-bit values k / 255 for the logistic-mixture head
    assert (run / "eval" / "metrics.json").is_file()
