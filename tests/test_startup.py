"""Startup: `import emlearn_lab` and `emlearn-lab --help` load no heavy library (the public
names are imported on first use), and every public name still resolves. Each check runs in a
fresh interpreter, where nothing the other tests imported is already loaded. How long startup
takes is measured by bench/bench_startup.py, not asserted here."""
import json
import subprocess
import sys

import pytest

HEAVY = ["numpy", "scipy", "sklearn", "pandas", "matplotlib", "IPython", "ipywidgets",
         "anywidget", "mpremote", "serial", "tqdm", "joblib"]


def loaded_after(code: str, modules: list) -> list:
    """Which of ``modules`` are in sys.modules after running ``code`` in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return json.loads(out.splitlines()[-1])


def test_importing_emlearn_lab_loads_no_heavy_library():
    assert loaded_after("import emlearn_lab", HEAVY) == []


def test_cli_help_loads_no_heavy_library():
    code = ("from emlearn_lab.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded_after(code, HEAVY) == []


def test_time_stats_does_not_load_scipy_signal():
    # scipy.signal (~1 s) designs SoundLevel's A-weighting filter; accelerometer users skip it
    assert loaded_after("from emlearn_lab.features import TimeStats", ["scipy.signal"]) == []


def test_device_feature_sources_import_first():
    # emlfx_core imports features._viper: importing the package features must not come back
    # to emlfx_core through audio.py (the eager `import emlearn_lab` used to hide that cycle)
    assert loaded_after("from emlearn_lab.device_src import emlfx_core, emlfx_spectral",
                        ["sklearn"]) == []


def test_every_public_name_resolves_in_a_fresh_interpreter():
    code = ("import types, emlearn_lab as eml\n"
            "names = {n: type(getattr(eml, n)).__name__ for n in eml.__all__}\n"
            "missing = sorted(set(eml.__all__) - set(dir(eml)))")
    probe = f"{code}\nimport json\nprint(json.dumps([names, missing]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    kinds, missing = json.loads(out.splitlines()[-1])
    assert missing == []
    assert {n for n, kind in kinds.items() if kind == "module"} == {
        "datasets", "features", "post", "actions", "sensors", "anomaly"}


@pytest.mark.parametrize("name, module", [("convert", "conversion"), ("compress", "compression"),
                                          ("glossary", "terms"), ("boards", "board_fit")])
def test_no_function_shadows_a_module(name, module):
    # each public function lives in a module of another name: importing the module (as other
    # modules of the package do) binds the module, and the function stays the function
    code = (f"import importlib, types, emlearn_lab as eml\n"
            f"m = importlib.import_module('emlearn_lab.{module}')\n"
            f"assert callable(eml.{name}) and eml.{name}.__name__ == {name!r}, eml.{name}\n"
            f"assert isinstance(eml.{module}, types.ModuleType) and eml.{module} is m\n"
            f"assert getattr(m, {name!r}) is eml.{name}")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_module_attributes_are_reachable_through_the_package():
    import emlearn_lab.board_fit as board_fit
    import emlearn_lab.compression

    assert "accuracy" in emlearn_lab.compression.METRICS
    assert board_fit.fit_table.__name__ == "fit_table"


def test_an_unknown_name_is_an_attribute_error():
    import emlearn_lab as eml
    with pytest.raises(AttributeError, match="module 'emlearn_lab' has no attribute 'nope'"):
        eml.nope        # noqa: B018
