"""Notebook 01 in a real JupyterLab (headless Debian chromium): run top to bottom, its label
widget draws, and the %%emlearn_deploy cell's live comparison streams the test windows through
the virtual device and the host until every window of both models agrees."""
import shutil
from pathlib import Path

import browser_harness as bh
import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.device]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def test_notebook_01_deploy_cell_shows_the_live_comparison(tmp_path):
    bh.require()
    # Without its committed outputs: everything the page shows comes from this fresh kernel.
    nb = nbformat.read(ROOT / "notebooks" / "01_activity_recognition.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, tmp_path / "01.ipynb")
    with bh.jupyter_lab(tmp_path) as (base, token), bh.browser(viewport=(1280, 900)) as page:
        nb = bh.Notebook(page, base, token, "01.ipynb")
        nb.run_all(timeout_s=300)
        page.wait_for_selector(".emlab-label", timeout=60_000)     # the label widget drew
        # The confusion matrix shows as an image in this fresh kernel (no %matplotlib).
        assert page.locator(".jp-OutputArea-output img[src^='data:image/png']").count() >= 1
        assert not page.get_by_text("<Figure size").count()
        live = page.locator(".emlab-live")
        live.wait_for(timeout=120_000)
        page.wait_for_function("() => Number(document.querySelector('.emlab-live')"
                               ".dataset.draws) >= 2", timeout=120_000)
        n_test = int(nb.run_code("print(len(test))").strip())
        page.wait_for_function(
            "(n) => Number(document.querySelector('.emlab-live').dataset.items) >= n",
            arg=n_test, timeout=120_000)
        assert live.get_attribute("data-agreement") == "1.0000,1.0000"
        assert page.locator(".emlab-live-model").count() == 2        # model and compressed
        live.scroll_into_view_if_needed()
        RESULTS.mkdir(parents=True, exist_ok=True)
        live.screenshot(path=str(RESULTS / "notebook01_live.png"))
        assert (RESULTS / "notebook01_live.png").stat().st_size > 10_000


def test_notebook_03_verdicts_lead_and_the_plots_are_images(tmp_path):
    """Notebook 03 in JupyterLab: the sweep plot is an image (no stray <Axes: ...>), the
    deploy cell shows one verdict line per model with its details folded (no table open
    before the live view), jargon carries tooltips, and the live view has its ground-truth
    row."""
    bh.require()
    shutil.copy(ROOT / "notebooks" / "03_tree_compression.ipynb", tmp_path / "03.ipynb")
    with bh.jupyter_lab(tmp_path) as (base, token), bh.browser(viewport=(1280, 900)) as page:
        nb = bh.Notebook(page, base, token, "03.ipynb")
        nb.run_all(timeout_s=300)
        assert page.locator(".jp-OutputArea-output img[src^='data:image/png']").count() >= 1
        assert not page.get_by_text("<Axes").count()
        assert not page.get_by_text("<Figure size").count()
        verdicts = page.locator(".emlab-verdict")
        assert verdicts.count() == 2
        lines = [verdicts.nth(i).locator("div").first.text_content() for i in range(2)]
        assert lines[0].startswith("model on rp2040-pico: fits (") and \
            lines[1].startswith("full on rp2040-pico: fits ("), lines
        assert all("exact (100% of" in line for line in lines), lines
        # every table of the deploy cell is folded: none is visible before the live view
        cell = page.locator(".jp-Cell").filter(has=page.locator(".emlab-verdict"))
        assert cell.locator("table").count() == 4
        assert not [t for t in cell.locator("table").all() if t.is_visible()]
        assert verdicts.first.locator("abbr[title]").count() >= 1          # "loadable"
        live = page.locator(".emlab-live")
        live.wait_for(timeout=120_000)
        page.wait_for_function("() => document.querySelector('.emlab-live').dataset.state "
                               "=== 'done'", timeout=120_000)
        assert page.locator(".emlab-live-truth").count() == 2
        cell.scroll_into_view_if_needed()
        RESULTS.mkdir(parents=True, exist_ok=True)
        cell.screenshot(path=str(RESULTS / "notebook03_deploy.png"))
        assert (RESULTS / "notebook03_deploy.png").stat().st_size > 10_000
