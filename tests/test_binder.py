"""binder/ alone makes a working environment: a fresh virtual environment gets
binder/requirements.txt and binder/postBuild (what mybinder.org's repo2docker runs), and the
notebooks execute in it on the virtual device. apt.txt is checked against Debian's package
names (the packages .ci/run installs with apt-get)."""
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.device]

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def test_binder_files_are_what_repo2docker_reads():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert os.access(BINDER / "postBuild", os.X_OK)
    apt = (BINDER / "apt.txt").read_text().split()
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(pkg in ci for pkg in apt), "apt.txt names packages .ci/run does not install"


def test_a_fresh_environment_from_binder_runs_the_notebooks(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = dict(os.environ, PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
               VIRTUAL_ENV=str(env_dir), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)

    def run(*cmd, cwd=ROOT, timeout=1800):
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=timeout)
        assert out.returncode == 0, f"{cmd}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout

    run(str(py), "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt"))
    run("bash", str(BINDER / "postBuild"))
    # the venv's own interpreter, its own emlearn_lab and its own virtual device
    where = run(str(py), "-c", "import emlearn_lab, shutil, sys; "
                "print(sys.prefix); print(shutil.which('micropython'))")
    prefix, micropython = where.split()
    assert Path(prefix) == env_dir and micropython.startswith(str(env_dir))
    work = tmp_path / "work"          # notebooks write files where they run: not in the repo
    work.mkdir()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(nb, work / nb.name)
        run(str(py), "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
            "--ExecutePreprocessor.timeout=600", "--output", f"{nb.stem}.executed",
            str(work / nb.name), cwd=work)
        assert (work / f"{nb.stem}.executed.ipynb").exists()
