"""The label widget in a real JupyterLab, in headless Debian chromium, driven like a user."""
import csv
import json
import os

import browser_harness as bh
import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLASSES = ["walk", "run", "idle"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    bh.require()
    root = tmp_path_factory.mktemp("lab")
    t = np.arange(3000) / 50.0                               # 60 s of 3-axis 50 Hz
    rng = np.random.default_rng(0)
    xyz = np.column_stack([np.sin(2 * np.pi * f * t) for f in (0.5, 1.3, 2.1)])
    xyz += 0.05 * rng.standard_normal(xyz.shape)
    with open(root / "walk.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_s", "acc_x [g]", "acc_y [g]", "acc_z [g]"])
        w.writerows([[f"{ti:.2f}", *map("{:.5f}".format, row)] for ti, row in zip(t, xyz)])
    bh.write_notebook(root / "label.ipynb", [
        "import emlearn_lab as eml\n"
        "rec = eml.load_recording('walk.csv')\n"
        f"w = eml.label(rec, classes={CLASSES!r}, labels='walk.labels.csv')\n"
        "w",
        "words = eml.datasets.load_sample('words')\n"
        "spoken = eml.LabelSet.load(eml.datasets.sample_labels_path('words'), recording=words)\n"
        "wa = eml.label(words, labels=spoken)\n"
        "wa",
    ])
    with bh.jupyter_lab(root) as (base, token), bh.browser() as page:
        nb = bh.Notebook(page, base, token, "label.ipynb")
        nb.run_all()
        page.wait_for_function("() => [...document.querySelectorAll('.emlab-label')]"
                               ".filter((e) => e.dataset.state === 'ready').length === 2",
                               timeout=60_000)
        yield root, page, nb


def _labels_on_disk(path):
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [(float(a), float(b), c) for a, b, c in csv.reader(rows[1:])]


def _wait_regions(page, labels):
    page.wait_for_function(
        "(want) => document.querySelector('.emlab-label').dataset.regions === want",
        arg=",".join(sorted(labels)), timeout=60_000)


def _wait_kernel(nb, condition: str, tries: int = 600) -> None:
    """Until ``condition`` holds in the kernel, i.e. what the view sent has been applied there
    (instead of a fixed sleep, which a loaded machine can outlast). A bound against a hang,
    not a measure of speed."""
    for _ in range(tries):
        if nb.run_code(f"print(bool({condition}))").strip() == "True":
            return
        nb.page.wait_for_timeout(100)
    raise AssertionError(f"the kernel never saw {condition}")


def _main_canvas(page):
    """The first label widget's main lane, scrolled into view, and where it is now: the page
    can move between gestures (the notebook scrolls, a status line appears), so a user-like
    gesture looks where the lane is before each action."""
    main = page.locator(".emlab-main").first
    main.scroll_into_view_if_needed()
    box = main.bounding_box()
    return (lambda frac: box["x"] + frac * box["width"]), box["y"] + box["height"] / 2


def _click_to_select(page, nb, frac: float, label: str) -> None:
    """Click the main lane at `frac` of its width until the view has selected the region
    labelled ``label`` (and the kernel has it too). A click is located just before it is
    made, but on a loaded machine the page can still shift under it (a status line appears,
    the notebook scrolls) and the click lands beside the lane; a user clicks again."""
    rid = nb.run_code(f"print(next(r.id for r in w.labels if r.label == {label!r}))").strip()
    for attempt in range(3):
        x_at, y = _main_canvas(page)
        page.mouse.click(x_at(frac), y)
        try:
            page.wait_for_function(
                "(want) => document.querySelector('.emlab-label').dataset.selected === want",
                arg=rid, timeout=20_000)
            break
        except Exception:
            if attempt == 2:
                raise
    _wait_kernel(nb, f"w.selected_id == {rid}")


def test_label_with_mouse_and_keys(lab, tmp_path):
    root, page, nb = lab

    def drag(f0, f1):
        x_at, y = _main_canvas(page)
        page.mouse.move(x_at(f0), y)
        page.mouse.down()
        page.mouse.move(x_at((f0 + f1) / 2), y, steps=4)
        page.mouse.move(x_at(f1), y, steps=4)
        page.mouse.up()

    drag(0.10, 0.25)                                           # region A, class 1 "walk"
    _wait_regions(page, ["walk"])
    drag(0.50, 0.70)                                           # region B, selected
    _wait_regions(page, ["walk", "walk"])
    page.keyboard.press("2")                                   # relabel B "run"
    _wait_regions(page, ["run", "walk"])
    _click_to_select(page, nb, 0.175, "walk")                  # select A
    page.keyboard.press("Delete")
    _wait_regions(page, ["run"])
    page.keyboard.press("Control+z")                           # A comes back
    _wait_regions(page, ["run", "walk"])

    on_disk = _labels_on_disk(root / "walk.labels.csv")
    assert sorted(c for _, _, c in on_disk) == ["run", "walk"]
    walk = next(r for r in on_disk if r[2] == "walk")
    run = next(r for r in on_disk if r[2] == "run")
    assert walk[0] == pytest.approx(6.0, abs=0.5) and walk[1] == pytest.approx(15.0, abs=0.5)
    assert run[0] == pytest.approx(30.0, abs=0.5) and run[1] == pytest.approx(42.0, abs=0.5)
    in_kernel = json.loads(nb.run_code(
        "import json; print(json.dumps([(r['start_s'], r['end_s'], r['label']) "
        "for r in w.labels.to_records()]))"))
    assert sorted(map(tuple, in_kernel)) == sorted(on_disk)

    # pan and zoom: keys, wheel; the view reaches the kernel and new tiles are drawn
    draws = int(page.locator(".emlab-label").first.get_attribute("data-draws"))
    page.keyboard.press("+")
    page.keyboard.press("ArrowRight")
    x_at, y = _main_canvas(page)
    page.mouse.move(x_at(0.5), y)
    page.mouse.wheel(0, -240)
    page.wait_for_function("(n) => Number(document.querySelector('.emlab-label')"
                           ".dataset.draws) > n", arg=draws, timeout=10_000)
    _wait_kernel(nb, "w.view_end_s - w.view_start_s < 30")    # its trait sync is debounced
    start_s, end_s = json.loads(nb.run_code("print([w.view_start_s, w.view_end_s])"))
    assert 0 < start_s < end_s < 60 and end_s - start_s < 30

    stats = page.evaluate("() => window.emlabLabelStats")
    assert stats and max(s["bytes"] for s in stats) <= 64_000
    shot = tmp_path / "label_widget.png"
    page.screenshot(path=str(shot))
    out = os.environ.get("EMLAB_ARTIFACT_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        page.screenshot(path=os.path.join(out, "label_widget.png"))
    assert shot.stat().st_size > 10_000


def test_python_side_changes_reach_the_view(lab):
    root, page, nb = lab
    nb.run_code("w.labels.add(50.0, 55.0, 'idle')")
    _wait_regions(page, ["idle", "run", "walk"])
    assert "idle" in (root / "walk.labels.csv").read_text()
    nb.run_code("w.show(45.0, 58.0)")
    page.wait_for_function("() => document.querySelector('.emlab-readout').textContent"
                           ".startsWith('45')", timeout=10_000)


def test_rejected_gesture_keeps_labels_and_says_why(lab):
    root, page, nb = lab
    before = (root / "walk.labels.csv").read_text()
    nb.run_code("w.show(0.0, 60.0)")
    page.wait_for_function("() => document.querySelector('.emlab-label').dataset.view "
                           "=== '0,60'", timeout=60_000)          # drawn: the drag maps to it
    x_at, y = _main_canvas(page)
    page.mouse.move(x_at(0.12), y)                           # inside region A: a move...
    page.mouse.down()
    page.mouse.move(x_at(0.5), y, steps=6)                   # ...onto region B: overlap
    page.mouse.up()
    page.wait_for_function("() => /overlap/i.test(document.querySelector('.emlab-status')"
                           ".textContent)", timeout=10_000)
    assert (root / "walk.labels.csv").read_text() == before


def test_audio_shows_a_spectrogram_and_plays(lab):
    root, page, nb = lab
    widget = page.locator(".emlab-label").nth(1)
    widget.scroll_into_view_if_needed()
    assert widget.get_attribute("data-regions") == "five,four,one,three,two"
    assert widget.locator(".emlab-spec").count() == 1
    painted = page.evaluate("""() => {
        const cv = document.querySelectorAll('.emlab-spec')[0];
        const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let bright = 0;
        for (let i = 0; i < px.length; i += 4) bright += px[i + 1] > 150;   // viridis top
        return bright / (px.length / 4);
    }""")
    assert painted > 0.005                       # the words light up the spectrogram
    widget.locator(".emlab-main").click(position={"x": 3, "y": 3})
    page.keyboard.press("Escape")
    page.keyboard.press(" ")                     # play the view
    page.wait_for_function("() => document.querySelectorAll('.emlab-label')[1]"
                           ".dataset.playing === 'true'", timeout=10_000)
    assert nb.run_code("print(wa.message)").startswith("playing 0.00")


def test_canvases_fit_the_content_box(lab):
    """Every canvas lies inside the widget's content box (its padding excluded): none runs
    past the border, so the end of the recording stays visible."""
    _, page, _ = lab
    over = page.evaluate("""() => {
        const root = document.querySelector('.emlab-label');
        const css = getComputedStyle(root), box = root.getBoundingClientRect();
        const right = box.right - parseFloat(css.borderRightWidth) -
            parseFloat(css.paddingRight);
        return [...root.querySelectorAll('canvas')].map(
            (cv) => cv.getBoundingClientRect().right - right).filter((d) => d > 0.5);
    }""")
    assert over == [], f"canvases run past the content box by {over} px"


def test_gestures_are_unambiguous_near_edges(lab):
    """A press in the gap just outside a region creates a region (it used to resize the
    neighbour: a 6-px zone around every edge); a press just inside an unselected region
    moves it; only the selected region resizes, from just inside its edges."""
    root, page, nb = lab
    nb.run_code("w.show(0.0, 60.0); w.selected_id = -1")
    page.wait_for_function("() => document.querySelector('.emlab-label').dataset.selected "
                           "=== '-1'", timeout=10_000)
    run = nb.run_code("r = next(r for r in w.labels if r.label == 'run'); "
                      "print(r.id, r.start_s, r.end_s)").split()
    rid, start, end = int(run[0]), float(run[1]), float(run[2])
    n_before = int(nb.run_code("print(len(w.labels))"))
    x_at, y = _main_canvas(page)
    px_per_s = (x_at(1.0) - x_at(0.0)) / 60.0

    def drag(x0, x1):
        page.mouse.move(x0, y)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, y, steps=4)
        page.mouse.move(x1, y, steps=4)
        page.mouse.up()

    edge = x_at(start / 60.0)
    drag(edge - 3, edge - 2.5 * px_per_s)              # in the gap, 3 px from run's start
    _wait_kernel(nb, f"len(w.labels) == {n_before + 1}")
    assert nb.run_code(f"print(w.labels[{rid}].start_s, w.labels[{rid}].end_s)").split() \
        == [str(start), str(end)]                      # run untouched
    drag(edge + 3, edge + 3 + 1.0 * px_per_s)          # just inside run, unselected: moves
    _wait_kernel(nb, f"abs(w.labels[{rid}].start_s - {start + 1.0}) < 0.3 and "
                     f"abs(w.labels[{rid}].end_s - {end + 1.0}) < 0.3")
    _wait_kernel(nb, f"w.selected_id == {rid}")        # and is selected now
    end_edge = x_at((end + 1.0) / 60.0)
    drag(end_edge - 3, end_edge - 3 + 2.0 * px_per_s)  # the selected region's end: resizes
    _wait_kernel(nb, f"abs(w.labels[{rid}].start_s - {start + 1.0}) < 0.3 and "
                     f"abs(w.labels[{rid}].end_s - {end + 3.0}) < 0.3")
