"""`dgm serve` and `dgm report` as a person uses them, in headless Chromium (the system's Debian package) driven by
Playwright for Python: open the app, choose a run, press "sample" and see the image change and the seed shown,
move the interpolation and traversal sliders with the keyboard, pick a class of a conditional model, open the
report offline and find every section with its images and charts drawn. Nothing is fetched from outside the
server. Screenshots go to $DGM_TEST_ARTIFACTS/browser (else the test's temporary folder)."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("flask")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is absent: pip install playwright "
                                                           "(the test extra has it)")

from dgm.cli.main import main  # noqa: E402
from dgm.serve.app import make_server  # noqa: E402

CHROMIUM = os.environ.get("DGM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic (updates, sync, Google lookups) is refused on a closed network; off.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("headless Chromium is absent: install the Debian package (apt-get install chromium) or set "
                    "DGM_CHROMIUM to a chromium binary; .ci/run installs it")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def base_url(root):
    srv = make_server(root, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture
def shots(tmp_path) -> Path:
    where = os.environ.get("DGM_TEST_ARTIFACTS")
    out = Path(where) / "browser" if where else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def page(browser, base_url):
    """A fresh page that records every request leaving for somewhere other than the server."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.outside = []
    pg.on("request", lambda r: None if r.url.startswith((base_url, "data:")) else pg.outside.append(r.url))
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()


def image_src(pg, selector: str) -> str:
    return pg.locator(selector).get_attribute("src") or ""


def wait_changed(pg, selector: str, old: str) -> str:
    """Wait until the image's src is a PNG data URI other than ``old``; the new src."""
    pg.wait_for_function("([s, old]) => { const i = document.querySelector(s); return i && i.src.startsWith("
                         "'data:image/png') && i.src !== old && i.complete && i.naturalWidth > 0; }",
                         arg=[selector, old])
    return image_src(pg, selector)


def test_choose_a_run_sample_and_walk_the_latent_space(page, base_url, shots):
    page.goto(base_url + "/")
    rows = page.locator("#runs tbody tr")
    rows.first.wait_for()
    statuses = {rows.nth(i).locator("td").first.inner_text(): rows.nth(i).locator("td").nth(4).inner_text()
                for i in range(rows.count())}
    assert statuses == {"vae": "finished", "cgan": "finished", "style": "finished", "stopped": "stopped", "failed": "failed"}
    page.screenshot(path=str(shots / "runs.png"), full_page=True)

    page.get_by_role("link", name="vae", exact=True).click()
    page.wait_for_url(base_url + "/runs/vae")
    first = wait_changed(page, "#sample-image", "")  # the page samples once on load
    assert page.locator("#sample-info").inner_text().startswith("seed 0")
    page.locator("#seed").fill("7")
    page.get_by_role("button", name="sample").click()
    second = wait_changed(page, "#sample-image", first)
    page.wait_for_function("() => document.querySelector('#sample-info').textContent.startsWith('seed 7')")
    assert second != first and page.locator("#sample-error").inner_text() == ""
    page.locator("#seed").fill("0")  # the same seed again: the same picture
    page.get_by_role("button", name="sample").click()
    assert wait_changed(page, "#sample-image", second) == first

    before = wait_changed(page, "#interp-image", "")
    page.locator("#t").focus()
    for _ in range(4):  # a person drags or uses the arrow keys: 0.5 -> 0.7
        page.keyboard.press("ArrowRight")
    after = wait_changed(page, "#interp-image", before)
    assert page.locator("#t-value").inner_text() == "0.7" and after != before
    shown = wait_changed(page, "#traverse-image", "")
    page.locator("#value").focus()
    page.keyboard.press("ArrowLeft")
    assert wait_changed(page, "#traverse-image", shown) != shown
    assert page.locator("#value-value").inner_text() == "-0.25"
    assert page.locator("#latent-error").inner_text() == ""
    page.screenshot(path=str(shots / "run-vae.png"), full_page=True)
    assert not page.outside and not page.console_errors


def test_pick_a_class_of_a_conditional_model(page, base_url, shots):
    page.goto(base_url + "/runs/cgan")
    shown = wait_changed(page, "#sample-image", "")
    page.select_option("#label", "7")
    page.get_by_role("button", name="sample").click()
    sevens = wait_changed(page, "#sample-image", shown)
    page.select_option("#label", "1")
    page.get_by_role("button", name="sample").click()
    assert wait_changed(page, "#sample-image", sevens) != sevens
    assert page.locator("#sample-error").inner_text() == ""
    page.screenshot(path=str(shots / "run-cgan.png"), full_page=True)
    assert not page.outside and not page.console_errors


def test_mix_the_styles_of_a_style_based_generator(page, base_url, shots):
    page.goto(base_url + "/runs/style")
    coarse = wait_changed(page, "#mix-image", "")  # drawn once on load
    page.select_option("#mix-styles", "fine")
    fine = wait_changed(page, "#mix-image", coarse)
    page.locator("#mix-psi").focus()
    page.keyboard.press("ArrowLeft")  # truncation 1 -> 0.9
    assert wait_changed(page, "#mix-image", fine) != fine
    assert page.locator("#mix-psi-value").inner_text() == "0.9" and page.locator("#mix-error").inner_text() == ""
    page.screenshot(path=str(shots / "run-style.png"), full_page=True)
    assert not page.outside and not page.console_errors


def test_a_bad_value_is_a_message_on_the_page(page, base_url):
    page.goto(base_url + "/runs/vae")
    shown = wait_changed(page, "#sample-image", "")
    page.locator("#n").fill("1000")
    page.get_by_role("button", name="sample").click()
    page.wait_for_function("() => document.querySelector('#sample-error').textContent.length > 0")
    assert "n must be in 1..64" in page.locator("#sample-error").inner_text()
    assert image_src(page, "#sample-image") == shown  # the last good picture stays


def test_a_broken_run_says_why(page, base_url):
    page.goto(base_url + "/runs/failed")
    assert page.locator("#load-error").is_visible()
    assert "cannot be loaded" in page.locator("#load-error").inner_text()


def check_report(pg) -> None:
    """Every section of a one-run report, its images decoded and its charts drawn."""
    headings = pg.locator("h3").all_inner_texts()
    for h in ("Configuration", "Training curves", "Evaluation", "Samples over training",
              "Pictures from the checkpoint"):
        assert h in headings, (h, headings)
    images = pg.locator("img")
    assert images.count() >= 3
    assert pg.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert pg.evaluate("() => [...document.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width"
                       " > 100).length") >= 1
    captions = " ".join(pg.locator("figcaption").all_inner_texts())
    for picture in ("Interpolations", "Latent traversals", "Nearest training neighbours"):
        assert picture.lower() in captions.lower(), (picture, captions)


def test_the_report_opens_offline_with_every_section(browser, root, tmp_path, shots):
    run = tmp_path / "vae"
    shutil.copytree(root / "vae", run, symlinks=False, ignore=shutil.ignore_patterns("leak.json"))
    assert main(["eval", str(run), "--metrics", "elbo", "-n", "16"]) == 0
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    outside = []
    pg.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else outside.append(r.url))
    pg.goto(out.as_uri())
    check_report(pg)
    assert pg.locator("h3", has_text="Evaluation").count() == 1 and "elbo" in pg.content()
    pg.screenshot(path=str(shots / "report.png"), full_page=True)
    assert not outside
    context.close()


def test_the_app_opens_a_runs_report(page, base_url):
    page.goto(base_url + "/runs/vae")
    page.get_by_role("link", name="report").click()
    page.wait_for_url(base_url + "/runs/vae/report")
    check_report(page)
    assert not page.outside
