"""C export of networks: the generated header + csrc/eml_lab_net.h, compiled with gcc (C99)
and g++ (C++11), must compute the host reference's scores bit for bit on every row (float32
logits / int32 accumulators), including adversarial inputs for the int8 quantiser."""
import os
import warnings

import numpy as np
import pytest
from c_harness import HARNESS
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import emlearn_lab as eml
from emlearn_lab.export.c_build import compile_host

os.environ["KERAS_BACKEND"] = "jax"
pytestmark = pytest.mark.toolchain

C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow",
           "-Wdouble-promotion", "-Wcast-qual", "-Wundef", "-Wstrict-prototypes")
CXX_FLAGS = ("-x", "c++", "-std=c++11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wshadow")
ADVERSARIAL = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 0.49999997, 0.5, -0.5, 1.5, -2.5,
               3.4e38, -3.4e38, 1e10, -1e10, 126.49, 127.5, -128.5, 7.0, 16.0]

def _mlp(cls, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(random_state=0, **kw).fit(X, y)


def run_c(net, X, tmp_path, cxx=False, name="net"):
    """Predict + scores for rows X from the exported header compiled for this machine."""
    folder = tmp_path / ("cxx" if cxx else "c")
    folder.mkdir(parents=True, exist_ok=True)
    eml.export_c(net, folder / f"{name}.h", name=name)
    st = "float" if net.int8 is None else "int32_t"
    (folder / "main.c").write_text(HARNESS % {"name": name, "N": name.upper(), "xt": "float",
                                              "st": st, "value": ""})
    exe = compile_host({}, "main.c", folder / "harness", compiler="g++" if cxx else "gcc",
                       flags=CXX_FLAGS if cxx else C_FLAGS)
    X32 = net.check_X(X)
    (folder / "x.bin").write_bytes(X32.astype("<f4").tobytes())
    import subprocess
    subprocess.run([str(exe), str(folder / "x.bin"), str(folder / "out.bin")], check=True)
    row = np.dtype([("p", "<i4"), ("s", "<f4" if st == "float" else "<i4", (net.n_outputs,))])
    out = np.fromfile(folder / "out.bin", dtype=row)
    assert len(out) == len(X32)
    return out["p"], out["s"]


def _check(net, X, tmp_path):
    rows = np.vstack([X, np.random.default_rng(0).choice(ADVERSARIAL, (40, X.shape[1]))])
    host = net.scores(rows)
    for cxx in (False, True):
        p, s = run_c(net, rows, tmp_path, cxx=cxx)
        if net.int8 is None:
            np.testing.assert_array_equal(s.view("<u4"), host.astype("<f4").view("<u4"))
        else:
            np.testing.assert_array_equal(s, host)
        if net.kind == "classifier":
            np.testing.assert_array_equal(p, net.predict_index(rows))


@pytest.mark.parametrize("weights", ["float32", "int8"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_c_classifier_equals_host(classification_data, tmp_path, activation, weights):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(20, 10),
               activation=activation, max_iter=100)
    net = eml.convert(clf, weights=weights, X_calib=X_train if weights == "int8" else None)
    _check(net, X_test, tmp_path)


@pytest.mark.parametrize("weights", ["float32", "int8"])
def test_c_binary_and_regressor_equal_host(classification_data, regression_data, tmp_path,
                                           weights):
    X_train, X_test, y_train, _ = classification_data["breast_cancer"]
    scale = X_train.std(axis=0)
    clf = _mlp(MLPClassifier, X_train / scale, y_train, hidden_layer_sizes=(8,), max_iter=200)
    calib = X_train / scale if weights == "int8" else None
    _check(eml.convert(clf, weights=weights, X_calib=calib), X_test / scale, tmp_path / "b")
    X_train, X_test, y_train, _ = regression_data["friedman"]
    reg = _mlp(MLPRegressor, X_train, y_train, hidden_layer_sizes=(12,), max_iter=300)
    net = eml.convert(reg, weights=weights, X_calib=X_train if weights == "int8" else None)
    (tmp_path / "r").mkdir()
    _check(net, X_test, tmp_path / "r")


def test_c_keras_int8(classification_data, tmp_path):
    import keras
    X_train, X_test, y_train, _ = classification_data["digits"]
    keras.utils.set_random_seed(0)
    k = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
    k.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    k.fit(X_train / 16, y_train, epochs=10, verbose=0)
    for weights in ("int8", "float32"):
        folder = tmp_path / weights
        folder.mkdir()
        net = eml.convert(k, weights=weights, X_calib=X_train / 16) if weights == "int8" \
            else eml.convert(k)
        _check(net, X_test / 16, folder)


def test_c_size_of_networks(classification_data):
    X_train, _, y_train, _ = classification_data["digits"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(32,), max_iter=50)
    full = eml.convert(clf)
    small = eml.convert(clf, weights="int8", X_calib=X_train)
    for cpu in ("cortex-m0plus", "cortex-m4f"):
        f, q = eml.c_size(full, cpu=cpu), eml.c_size(small, cpu=cpu)
        # The weights alone: 4 bytes each as float32, 1 as int8; all in flash, no RAM.
        assert f.text_bytes > 4 * full.n_weights > q.text_bytes > small.n_weights
        assert f.data_bytes == q.data_bytes == 0 and f.bss_bytes == q.bss_bytes == 0


@pytest.mark.parametrize("weights", ["int8", "float32"])
def test_c_random_networks_equal_host(tmp_path, weights):
    """15 random networks each (tests/random_nets.py): C == host bit for bit, gcc and g++."""
    from random_nets import random_net
    rng = np.random.default_rng(7 if weights == "int8" else 8)
    for i in range(15):
        net, X = random_net(rng, weights)
        _check(net, X, tmp_path / str(i))
