"""Networks on the host: conversion from scikit-learn and Keras, the exact float32 and int8
references, and the errors users meet."""
import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import emlearn_lab as eml
from emlearn_lab.nets import float32 as f32

os.environ["KERAS_BACKEND"] = "jax"   # explicit: a stray ~/.keras/keras.json may say otherwise


def _mlp(cls, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(random_state=0, **kw).fit(X, y)


@pytest.fixture(scope="module")
def digits_mlp(classification_data):
    X_train, X_test, y_train, _ = classification_data["digits"]
    return _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(32, 16),
                max_iter=300), X_train, X_test


@pytest.fixture(scope="module")
def keras_digits(classification_data):
    import keras
    X_train, X_test, y_train, _ = classification_data["digits"]
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                            keras.layers.Dropout(0.1), keras.layers.Dense(16, activation="tanh"),
                            keras.layers.Dense(10, activation="softmax")])
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    net.fit(X_train / 16, y_train, epochs=40, batch_size=32, verbose=0)
    return net, X_train / 16, X_test / 16


def test_dense_is_sequential_float32():
    """The reference accumulates one rounded product at a time, in input order."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((7, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    a = (rng.standard_normal((5, 7)) * 10.0 ** rng.integers(-3, 4, (5, 7))).astype(np.float32)
    got = f32.dense(a, W, b)
    for r in range(5):
        for o in range(3):
            acc = b[o]
            for i in range(7):
                acc = np.float32(acc + np.float32(W[i, o] * a[r, i]))
            assert got[r, o].tobytes() == acc.tobytes()


def test_portable_exp_is_close_to_exp():
    x = np.linspace(-79, 79, 200_001).astype(np.float32)
    rel = np.abs(f32.pexp(x) / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < 4 * 2.0**-23
    assert f32.pexp(np.array([1e30, -1e30], np.float32)).tolist() == [
        float(f32.pexp(np.float32([80]))[0]), float(f32.pexp(np.float32([-80]))[0])]


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_sklearn_classifier_float32_matches_sklearn(classification_data, activation):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(24,),
               activation=activation, max_iter=200)
    net = eml.convert(clf)
    assert net.weights == "float32" and net.kind == "classifier"
    assert (net.predict(X_test) == clf.predict(X_test)).mean() >= 0.995
    np.testing.assert_allclose(net.predict_proba(X_test), clf.predict_proba(X_test), atol=1e-4)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_sklearn_int8_agrees_with_sklearn(classification_data, activation):
    X_train, X_test, y_train, _ = classification_data["digits"]
    clf = _mlp(MLPClassifier, X_train, y_train, hidden_layer_sizes=(32,),
               activation=activation, max_iter=300)
    net = eml.convert(clf, weights="int8", X_calib=X_train)
    assert net.weights == "int8"
    assert (net.predict(X_test) == clf.predict(X_test)).mean() >= 0.99
    assert net.scores(X_test).dtype == np.int64


def test_binary_and_regressor(classification_data, regression_data):
    X_train, X_test, y_train, _ = classification_data["breast_cancer"]
    scale = X_train.std(axis=0)
    clf = _mlp(MLPClassifier, X_train / scale, y_train, hidden_layer_sizes=(8,), max_iter=300)
    for weights in ("float32", "int8"):
        net = eml.convert(clf, weights=weights,
                          X_calib=X_train / scale if weights == "int8" else None)
        assert net.n_outputs == 1
        assert (net.predict(X_test / scale) == clf.predict(X_test / scale)).mean() >= 0.98
    X_train, X_test, y_train, _ = regression_data["friedman"]
    reg = _mlp(MLPRegressor, X_train, y_train, hidden_layer_sizes=(16,), max_iter=500)
    for weights, tol in (("float32", 1e-4), ("int8", 0.5)):
        net = eml.convert(reg, weights=weights, X_calib=X_train if weights == "int8" else None)
        assert net.kind == "regressor"
        assert np.abs(net.predict(X_test) - reg.predict(X_test)).max() < tol
        assert net.compare(reg, X_test)["max_output_error"] < tol


def test_int8_input_quantiser_is_floor_plus_half():
    from emlearn_lab.nets.int8 import quantise_input
    x = np.array([[0.0, -0.0, 0.5, -0.5, 1.49, -1.5, 1e30, -1e30, 1e-45, -1e-45, 126.5, -128.5]],
                 np.float32)
    q = quantise_input(x, np.zeros(x.shape[1], np.int64))
    assert q.tolist() == [[0, 0, 1, 0, 1, -1, 127, -128, 0, 0, 127, -128]]


def test_keras_float_and_int8(keras_digits):
    net, X_train, X_test = keras_digits
    probs = np.asarray(net.predict(X_test, verbose=0))
    ours = eml.convert(net)
    assert ours.source == "Keras Sequential" and [la.activation for la in ours.layers] == [
        "relu", "tanh", "softmax"]
    assert (ours.predict(X_test) == probs.argmax(axis=1)).mean() >= 0.998
    assert np.abs(ours.predict_proba(X_test) - probs).max() < 1e-4
    q = eml.convert(net, weights="int8", X_calib=X_train)
    assert (q.predict(X_test) == probs.argmax(axis=1)).mean() >= 0.99
    report = q.compare(net, X_test)
    assert report["class_agreement"] >= 0.99 and 0 < report["max_output_error"] < 0.2
    assert ours.compare(net, X_test)["max_output_error"] < 1e-4


def test_keras_unsupported_layers_named(keras_digits):
    import keras
    conv = keras.Sequential([keras.Input((16, 1)), keras.layers.Conv1D(2, 3, name="conv_a"),
                             keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(eml.UnsupportedModelError, match=r"layer 'conv_a' \(Conv1D\)"):
        eml.convert(conv)
    elu = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="elu",
                                                                   name="d_elu")])
    with pytest.raises(eml.UnsupportedModelError, match="layer 'd_elu': activation 'elu'"):
        eml.convert(elu)
    inp = keras.Input((4,))
    functional = keras.Model(inp, keras.layers.Dense(2)(inp))
    with pytest.raises(eml.UnsupportedModelError, match="only keras.Sequential"):
        eml.convert(functional)
    act = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                            keras.layers.Activation("relu"), keras.layers.Dense(2),
                            keras.layers.Activation("softmax")])
    net = eml.convert(act)
    assert [la.activation for la in net.layers] == ["relu", "softmax"]
    assert net.kind == "classifier"
    logits = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert eml.convert(logits).kind == "regressor"
    assert eml.convert(logits, classes=["a", "b", "c"]).predict(np.zeros((1, 4)))[0] in "abc"


def test_errors(digits_mlp, classification_data):
    clf, X_train, X_test = digits_mlp
    with pytest.raises(eml.NotFittedError, match="not fitted"):
        eml.convert(MLPClassifier())
    with pytest.raises(eml.InputError, match=r"^The 'X_calib' parameter of eml\.convert must "
                                             r"be rows of training features when "
                                             r"weights='int8'\. Got None instead\."):
        eml.convert(clf, weights="int8")
    with pytest.raises(eml.InputError, match=r"^The 'weights' parameter of eml\.convert must "
                                             r"be 'float32' or 'int8'\. Got 'int4' instead"):
        eml.convert(clf, weights="int4")
    bad = X_train.copy()
    bad[3, 5] = np.nan
    with pytest.raises(eml.InputError, match="row 3, column 5"):
        eml.convert(clf, weights="int8", X_calib=bad)
    with pytest.raises(eml.InputError, match=r"shape \(n_rows, 64\)"):
        eml.convert(clf, weights="int8", X_calib=X_train[:, :10])
    net = eml.convert(clf)
    with pytest.raises(eml.InputError, match="NaN"):
        net.predict(bad)
    with pytest.raises(eml.InputError, match="takes 64 inputs"):
        net.predict(X_test[:, :3])
    with pytest.raises(eml.UnsupportedModelError, match="applies to trees"):
        eml.convert(clf, features="int16")
    X, y = classification_data["iris"][0], classification_data["iris"][2]
    multilabel = _mlp(MLPClassifier, X, np.column_stack([y == 0, y == 1]), max_iter=50)
    with pytest.raises(eml.UnsupportedModelError, match="multi-label"):
        eml.convert(multilabel)


def test_model_file_size_and_repr(digits_mlp):
    clf, X_train, _ = digits_mlp
    full = eml.convert(clf)
    small = eml.convert(clf, weights="int8", X_calib=X_train)
    n_w = 64 * 32 + 32 * 16 + 16 * 10
    assert full.n_weights == n_w
    assert full.size_bytes == 16 + 3 * 8 + 4 * (n_w + 32 + 16 + 10)
    assert small.size_bytes < full.size_bytes / 3
    assert "64-32-16-10" in repr(small) and "int8" in repr(small)

