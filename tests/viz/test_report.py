"""`dgm report`: inline SVG charts (smoothing against its closed form, ticks, log scale, valid XML), and the
page of real tiny runs: every section present, every image embedded and decodable, nothing fetched from a
network, what is left out said with its reason, several runs compared, bad input one clear line."""
from __future__ import annotations

import base64
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from PIL import Image

from dgm.cli.main import main
from dgm.viz.svg import line_chart, nice_ticks, smooth, wants_log_scale

VAE = ["--data", "mnist-10k", "--set", "model.hidden=[16]", "--set", "model.latent_dim=3", "--steps", "12",
       "--batch-size", "16", "--set", "train.log_every=2", "--set", "train.sample_every=4", "--no-progress"]


# --- charts -------------------------------------------------------------------------------------------------
def test_smoothing_is_the_debiased_moving_average():
    assert smooth([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]
    assert smooth([5.0, 5.0, 5.0], 0.9) == pytest.approx([5.0, 5.0, 5.0])
    # EMA_1 = 0.5 * 0 + 0.5 * 0 = 0 -> 0 / 0.5; EMA_2 = 0.5 * 0 + 0.5 * 2 = 1 -> 1 / 0.75
    assert smooth([0.0, 2.0], 0.5) == pytest.approx([0.0, 4 / 3])
    out = smooth([1.0, math.nan, 3.0], 0.5)  # a NaN passes through and does not enter the average
    assert math.isnan(out[1]) and out[2] == pytest.approx((0.25 * 1 + 0.5 * 3) / 0.75)
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 10) == pytest.approx([0, 2, 4, 6, 8, 10])
    ticks = nice_ticks(0.013, 0.087)
    assert ticks == pytest.approx([0.02, 0.04, 0.06, 0.08])
    assert nice_ticks(3, 3) == [3]


def test_log_scale_only_for_positive_values_spanning_a_factor_of_20():
    assert wants_log_scale({"a": [(0, 1.0), (1, 100.0)]})
    assert not wants_log_scale({"a": [(0, 1.0), (1, 10.0)]})
    assert not wants_log_scale({"a": [(0, -1.0), (1, 100.0)]})


def test_chart_is_valid_svg_with_a_line_per_series():
    svg = line_chart({"a": [(0, 1.0), (1, 2.0), (2, math.inf)], "b": [(0, 3.0), (2, 1.0)], "c": []}, "loss & more")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2 and "loss &amp; more" in svg
    assert all(len(pl.get("points").split()) == 2 for pl in lines)  # the infinite point dropped
    assert "log scale" in line_chart({"a": [(0, 1.0), (1, 1000.0)]}, "t")
    assert "no finite values" in line_chart({"a": [(0, math.nan)]}, "t")


# --- the page -----------------------------------------------------------------------------------------------
class Page(HTMLParser):
    """The report's headings, images (src, alt), links and section ids."""

    def __init__(self, text: str):
        super().__init__()
        self.images: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self.ids: list[str] = []
        self._heading = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append((a.get("src", ""), a.get("alt", "")))
        if tag in ("a", "link", "script"):
            self.links.append(a.get("href") or a.get("src") or "")
        if "id" in a:
            self.ids.append(a["id"])
        self._heading = tag in ("h2", "h3")

    def handle_endtag(self, tag):
        self._heading = False

    def handle_data(self, data):
        if self._heading:
            self.headings.append(data.strip())


def decode_png(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    run = root / "runs" / "vae"
    assert main(["train", "vae", *VAE, "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def evaluated(vae_run, tmp_path_factory):
    import shutil

    run = tmp_path_factory.mktemp("evaluated") / "vae-eval"
    shutil.copytree(vae_run, run)
    assert main(["eval", str(run), "--metrics", "elbo", "-n", "16"]) == 0
    return run


def test_report_of_one_run_has_every_section(evaluated, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(evaluated), "--out", str(out)]) == 0
    assert "wrote the report" in capsys.readouterr().out
    text = out.read_text()
    page = Page(text)
    for heading in ("Configuration", "Training curves", "Evaluation", "Samples over training",
                    "Pictures from the checkpoint", "Left out"):
        assert heading in page.headings, heading
    # a chart per logged term: the ELBO's terms, lr per group, throughput
    metrics = [json.loads(x) for x in (evaluated / "metrics.jsonl").read_text().splitlines()]
    terms = {k for rec in metrics for k, v in rec.items()
             if isinstance(v, (int, float)) and k not in ("step", "epoch", "train_s", "nonfinite_skipped")}
    terms |= {f"lr/{g}" for rec in metrics for g in rec.get("lr", {})}
    titles = set(re.findall(r'<svg[^>]*aria-label="([^"]+)"', text))
    assert terms <= titles and "loss" in titles
    # the evaluation table with its protocol
    assert "elbo nll" in text and "<th>protocol</th>" in text and "bits/dim" in text
    # the strip of grids over training (step 4, 8, final) and the checkpoint's pictures, each a decodable PNG
    alts = [alt for _, alt in page.images]
    assert alts[:3] == ["step 4", "step 8", "final"]
    for alt in ("Interpolations", "Latent traversals", "Nearest training neighbours"):
        assert alt in alts, alt
    for src, _ in page.images:
        assert decode_png(src).size[0] > 10
    assert "class-conditional rows: the model is not class-conditional" in text
    # self-contained: no script, no remote or local file reference
    assert not [x for x in page.links if not x.startswith(("#", "data:"))]  # in-page anchors, inline data only
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_says_what_it_left_out_and_how_to_get_it(vae_run, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(vae_run), "--out", str(out), "--no-pictures"]) == 0
    text = out.read_text()
    assert f"evaluation: none yet; run `dgm eval {vae_run}`" in text
    assert "not drawn (--no-pictures)" in text and "Pictures from the checkpoint" not in text


def test_several_runs_are_compared_on_shared_axes(vae_run, evaluated, tmp_path):
    out = tmp_path / "r.html"
    # a folder of runs expands to its runs; the evaluated one contributes its headline numbers
    assert main(["report", str(vae_run.parent), str(evaluated), "--out", str(out), "--no-pictures"]) == 0
    text = out.read_text()
    page = Page(text)
    assert {"comparison", "run-vae", "run-vae-eval"} <= set(page.ids)
    comparison = text[text.index('id="comparison"'):text.index('id="run-vae"')]
    assert "elbo nats" in comparison and comparison.count("<polyline") >= 2 * 3  # loss, lr, ...: both runs each
    assert ">vae</text>" in comparison and ">vae-eval</text>" in comparison  # legends name the runs


def test_a_damaged_run_still_reports(vae_run, tmp_path):
    import shutil

    run = tmp_path / "damaged"
    shutil.copytree(vae_run, run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 13, "loss": 1.0\n')  # a line cut by a kill
    for p in (run / "checkpoints").rglob("model.safetensors"):
        p.write_bytes(b"not a safetensors file")
    out = tmp_path / "r.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    text = out.read_text()
    assert "1 unreadable line(s) of metrics.jsonl skipped" in text
    assert "pictures from the checkpoint:" in text and "Training curves" in text


def test_points_model_and_conditional_model(tmp_path):
    gmm = tmp_path / "gmm"
    assert main(["train", "gmm", "--data", "ring8", "--set", "model.components=3", "--steps", "3",
                 "--no-progress", "--out", str(gmm)]) == 0
    cgan = tmp_path / "cgan"
    assert main(["train", "cgan", "--data", "mnist-10k", "--set", "model.mlp_hidden=[16]", "--set",
                 "model.channels=8", "--set", "model.latent_dim=8", "--steps", "2", "--batch-size", "8",
                 "--no-progress", "--out", str(cgan)]) == 0
    out = tmp_path / "r.html"
    assert main(["report", str(gmm), str(cgan), "--out", str(out)]) == 0
    text = out.read_text()
    assert "the model generates points, not images" in text
    cgan_part = text[text.index('id="run-cgan"'):]
    alts = [alt for _, alt in Page(cgan_part).images]
    assert "Class-conditional samples" in alts and "Interpolations" in alts
    grid = decode_png(dict((a, s) for s, a in Page(cgan_part).images)["Class-conditional samples"])
    assert grid.size[1] > grid.size[0]  # 10 rows of 8


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "is not a run directory" in err and "Traceback" not in err
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html"), "--smoothing", "1.5"]) == 2
    assert "outside [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
