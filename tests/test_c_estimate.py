"""C flash estimate without a compiler vs a real arm-none-eabi-gcc build (c_size)."""
import warnings

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import emlearn_lab as eml
from emlearn_lab.export import c_build
from emlearn_lab.export.c_estimate import c_flash_estimate

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def models(classification_data):
    X_train, _, y_train, _ = classification_data["wine"]
    clf = RandomForestClassifier(12, max_leaf_nodes=30, random_state=11).fit(X_train, y_train)
    Xz = (X_train - X_train.mean(axis=0)) / X_train.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(20,), activation="tanh", max_iter=30,
                            random_state=4).fit(Xz, y_train)
    return {"forest": eml.convert(clf),
            "compressed": eml.compress(clf, leaves_per_class=3, leaf_bits=5),
            "net float32": eml.convert(mlp),
            "net int8": eml.convert(mlp, weights="int8", X_calib=Xz)}


@pytest.mark.parametrize("name", ["forest", "compressed", "net float32", "net int8"])
@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4f"])
def test_table_estimate_within_10_percent(models, name, cpu):
    model = models[name]
    est = c_flash_estimate(model, cpu=cpu)
    real = c_build.c_size(model, cpu=cpu)
    assert est.note == ""
    assert abs(est.flash_bytes / (real.text_bytes + real.data_bytes) - 1) <= 0.10, (est, real)
    assert 0 < est.data_bytes < est.flash_bytes


def test_estimate_needs_no_compiler(models, monkeypatch):
    def missing(name):
        raise eml.BuildError(f"{name} is not installed")
    monkeypatch.setattr(c_build, "find_compiler", missing)
    est = c_flash_estimate(models["forest"], cpu="cortex-m0plus", form="inline")
    assert est.flash_bytes > 0 and "cortex-m0plus" in repr(est)
    with pytest.raises(eml.BuildError, match="not installed"):
        c_build.c_size(models["forest"], cpu="cortex-m0plus")


def test_estimate_errors(models):
    with pytest.raises(eml.InputError, match="unknown cpu 'cortex-m7'"):
        c_flash_estimate(models["forest"], cpu="cortex-m7")
    with pytest.raises(eml.InputError, match=r"^The 'form' parameter of export_c must be "
                                             r"'table'\. Got 'inline' instead\. This model is "
                                             r"written as a table only \('inline' is for "
                                             r"trees\)\.$"):
        c_flash_estimate(models["net int8"], form="inline")
    assert np.isfinite(c_flash_estimate(models["net int8"]).flash_bytes)


def test_board_estimate_carries_the_c_flash(models):
    pico = eml.estimate(models["forest"], "rp2040-pico")
    assert pico.c_flash.cpu == "cortex-m0plus" and pico.c_flash.flash_bytes > 0
    assert "C firmware flash" in str(pico)
    esp = next(b for b in eml.boards() if b.core.startswith("Xtensa"))
    assert eml.estimate(models["forest"], esp.id).c_flash is None
