"""The teaching notebooks run top to bottom, unattended, on the virtual device: each is
executed in a fresh kernel (nbclient) in a scratch directory, and its outputs are checked for
what the notebook promises (exact on the device, the C build agreeing, ...)."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.device, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECT = {
    "01_activity_recognition": ["EXACT", "device == host: True"],
    "02_sound_events": ["EXACT: every value identical", "EXACT"],
    "03_tree_compression": ["EXACT", "on rp2040-pico: fits (", "exact (100% of",
                            "<details>", "roc_auc_ovo_weighted  Area under the ROC curve"],
    "04_boards_and_c": ["C == host reference on 200 rows: True"],
}


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            for key in ("text/plain", "text/html"):
                parts.append(str(out.get("data", {}).get(key, "")))
    return "\n".join(parts)


def execute(path: Path, workdir: Path):
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("KERAS_BACKEND")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("KERAS_BACKEND", None)
    return nb


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
