"""The HTML report in a real headless Chromium, and its figures as files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image as PILImage

from cli_helpers import dermset
from conftest import skip_or_fail
from dermset.registry.project import Project
from release_cohort import build_cohort

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIGURES = {
    "flow",
    "categories",
    "age_sex",
    "sites",
    "verification_funnel",
    "agreement",
    "structures",
    "quality",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    proj = Project.init(root / "proj")
    build_cohort(proj, n_patients=16, seed=11)
    proj.close()
    r = dermset(
        "report", "--out", root / "report", "--project", root / "proj", "--bootstrap", "100"
    )
    assert r.code == 0, r.err
    return root / "report", r


def test_cli_prints_the_study_flow_and_where_the_files_are(report):
    out, r = report
    stats = json.loads((out / "stats.json").read_text())
    lines = r.out.splitlines()
    assert lines[0] == stats["flow_line"]
    assert "histologically verified" in lines[1]
    assert str(out / "report.html") in r.out


def test_every_figure_is_written_as_png_and_svg(report):
    out, _ = report
    figs = out / "figures"
    assert {p.stem for p in figs.glob("*.png")} == FIGURES
    assert {p.stem for p in figs.glob("*.svg")} == FIGURES
    for name in FIGURES:
        with PILImage.open(figs / f"{name}.png") as im:
            assert im.format == "PNG" and im.width >= 800 and im.height >= 300, name
            # not blank: a drawn figure has many distinct colours
            assert len(im.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 20, name
        assert (figs / f"{name}.svg").read_text().lstrip().startswith("<?xml"), name


def test_report_renders_in_chromium_self_contained(report):
    out, _ = report
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed")
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Debian's chromium is not installed at {CHROMIUM}")
    stats = json.loads((out / "stats.json").read_text())
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda req: requested.append(req.url))
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            assert page.inner_text("#flow-line") == stats["flow_line"]
            # every figure is there as inline SVG with real size
            for name in FIGURES:
                box = page.locator(f"#fig-{name} svg").bounding_box()
                assert box and box["width"] > 400 and box["height"] > 150, name
            cells = page.locator("#categories tr").count()
            assert cells == 1 + len(stats["diagnosis"]["categories"])
            shot = out / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    # self-contained: the page asked for nothing but itself
    assert requested == [(out / "report.html").as_uri()]
    with PILImage.open(shot) as im:
        assert im.height > 3000  # the whole report, not an empty page
