"""The teaching notebooks run top to bottom, unattended, on the virtual device: each is
executed in a fresh kernel (nbclient) in a scratch directory, and its outputs are checked for
what the notebook promises (exact on the device, the C build agreeing, ...) and against the
outputs committed with it (tools/run_notebooks.py writes them), so what GitHub shows is what
the notebook does."""
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.device, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECT = {
    "01_activity_recognition": ["EXACT", "device == host: True",
                                "virtual device == host on 80 windows: True"],
    "02_sound_events": ["EXACT: every value identical", "EXACT", "held-out windows: "],
    "03_tree_compression": ["EXACT", "on rp2040-pico: fits (", "exact (100% of",
                            "<details>", "roc_auc_ovo_weighted  Area under the ROC curve",
                            "x smaller than uncompressed", "; held out "],
    "04_boards_and_c": ["C == host reference on 200 rows: True"],
    "05_your_own_csv": ["Recording(3200 samples × 3 channels", "EXACT: every value identical",
                        "device predictions == host: True"],
    "06_device_app": ["device == host: True", "AppCheck(IDENTICAL: "],
    "07_condition_monitoring": ["EllipticEnvelope: device == host: True",
                                "IsolationForest: device == host: True",
                                "items    agree  disagree", "device == host: True"],
}
# Notebooks whose outputs are not committed yet (tools/run_notebooks.py writes them): none.
OUTPUTS_PENDING: set = set()
sys.path.insert(0, str(NOTEBOOKS.parent / "tools"))
from run_notebooks import execute  # noqa: E402  (the tool that writes the committed outputs)


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            for key in ("text/plain", "text/html"):
                parts.append(str(out.get("data", {}).get(key, "")))
    return "\n".join(parts)


def comparable(nb) -> list:
    """Per code cell, the text of its outputs with what differs from run to run masked:
    numbers (timings, heap figures, pty numbers), object addresses, directories (the
    checkout's, the pty's) and runs of spaces (column widths follow the numbers); images
    count as present, not by their pixels."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = out.get("text") or out.get("ename") or str(data.get("text/plain", ""))
            text = re.sub(r"0x[0-9a-f]+", "0x?", text)
            text = re.sub(r"(?:/[\w.+-]+)+/", "/.../", text)     # where the checkout is
            # A number, its decimals and thousands groups ("5 619", "1.64") as one "#": a
            # figure's width may change from run to run.
            text = re.sub(r" +", " ", re.sub(r"\d(?:[\d.,]|\s(?=\d))*", "#", text))
            kind = (out["output_type"], out.get("name"))
            if texts and kind[0] == "stream" and texts[-1][0] == kind:
                # A stream arrives in as many outputs as the kernel flushed: one text.
                texts[-1] = (kind, texts[-1][1] + text, False)
            else:
                texts.append((kind, text, "image/png" in data))
        cells.append(texts)
    return cells


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_notebook_runs_top_to_bottom(name, tmp_path):
    nb = execute(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    text = text_of(nb)
    for expected in EXPECT[name]:
        assert expected in text, f"{name}: {expected!r} not in the outputs"
    nbformat.write(nb, tmp_path / f"{name}.executed.ipynb")   # for a look afterwards
    if name not in OUTPUTS_PENDING:
        committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert comparable(committed) == comparable(nb), (
            f"{name}: the committed outputs differ from a fresh run: run "
            f"`python3 tools/run_notebooks.py notebooks/{name}.ipynb` and commit the result")


def test_outputs_are_committed_for_github():
    """GitHub renders a notebook's committed outputs: every notebook has them (the test
    above checks that they are a fresh run's)."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        has = any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert has or path.stem in OUTPUTS_PENDING, f"{path.name} has no outputs"


def test_keras_backend_only_where_keras_is_imported():
    """KERAS_BACKEND matters only before `import keras`: a notebook without Keras does not
    set it (03 and 04 are edited elsewhere, pending)."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        if "keras" not in source.replace("KERAS_BACKEND", "").lower() \
                and path.stem not in OUTPUTS_PENDING:
            assert "KERAS_BACKEND" not in source, path.name


def test_notebook_02_reports_a_held_out_score():
    """02 scores windows the forest never saw (nor an overlapping neighbour of them)."""
    source = "\n".join(c.source for c in nbformat.read(
        NOTEBOOKS / "02_sound_events.ipynb", as_version=4).cells)
    assert "pipe.fit(train.X, train.y)" in source and "pipe.fit(win.X" not in source
    assert "pipe.predict(test.X)" in source


@pytest.mark.parametrize("name", ["01_activity_recognition", "02_sound_events"])
def test_a_rerun_keeps_the_students_labels(name, tmp_path, monkeypatch):
    """The label cell copies the sample's labels to the working file only when there is none:
    running the notebook again must not overwrite what the student labelled. The working
    files are ignored by git when the notebooks run inside the repository."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if "sample_labels_path" in c.source)
    setup = cell[:cell.index("w = eml.label")]
    path = tmp_path / setup.split('"')[-2]
    monkeypatch.chdir(tmp_path)
    import emlearn_lab as eml
    exec(setup, {"eml": eml})                      # first run: the sample's labels
    assert path.read_bytes() == Path(eml.datasets.sample_labels_path(
        "basic_motions" if name.startswith("01") else "words")).read_bytes()
    path.write_text("start,end,label\n0.0,1.0,mine\n")
    exec(setup, {"eml": eml})                      # a re-run
    assert path.read_text() == "start,end,label\n0.0,1.0,mine\n"
    ignored = (NOTEBOOKS.parent / ".gitignore").read_text().split()
    assert "notebooks/*.labels.csv" in ignored
