"""Getting started: the `lab` extra brings JupyterLab, and the README's command that opens
the notebooks with it works."""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_lab_extra_brings_jupyterlab_and_the_tests_use_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(r.startswith("jupyterlab") for r in extras["lab"])
    assert "emlearn_lab[lab]" in extras["test"]
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(r.startswith("tqdm") for r in deps)          # progress.py


def test_the_readme_opens_the_notebooks_with_jupyterlab():
    readme = (ROOT / "README.md").read_text()
    command = 'python3 -m pip install -e ".[lab]" && python3 -m jupyter lab notebooks/'
    assert command in readme
    # the part after pip: JupyterLab answers (the server itself is started by the
    # browser tests, tests/browser_harness.py)
    proc = subprocess.run([sys.executable, "-m", "jupyter", "lab", "--version"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip()[0].isdigit(), proc.stderr
