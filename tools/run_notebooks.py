"""Run the teaching notebooks top to bottom and commit their outputs into notebooks/, so that
GitHub shows them as they ran (tests/test_notebooks.py checks that the committed outputs
match a fresh run's text).

    python3 tools/run_notebooks.py                  # every notebook
    python3 tools/run_notebooks.py notebooks/02_sound_events.ipynb

Each runs in a fresh kernel in a scratch directory (the files a notebook writes stay out of
the repository), on the virtual device."""
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def execute(path: Path, workdir: Path):
    """The notebook at ``path`` executed in ``workdir``: outputs, no timing metadata."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   store_widget_state=False,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def main(argv: list) -> int:
    paths = [Path(p) for p in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        with tempfile.TemporaryDirectory() as scratch:
            nb = execute(path, Path(scratch))
        nbformat.write(nb, path)
        print(f"wrote the outputs of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
