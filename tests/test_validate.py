"""emlearn_lab.validate: every check accepts what it should and fails with the one message
shape "The 'p' parameter of owner must be <expected>. Got <value> instead. <remedy>"."""
import re

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier

import emlearn_lab as eml
from emlearn_lab.exceptions import EmlearnLabError, InputError, UnsupportedModelError
from emlearn_lab.validate import identifier, int_in, invalid, number_in, one_of


def test_invalid_builds_the_message_and_returns_an_input_error():
    e = invalid("port", 3, "a str", owner="eml.connect", remedy="Pass 'virtual'.")
    assert isinstance(e, InputError) and isinstance(e, ValueError)
    assert isinstance(e, EmlearnLabError)
    assert str(e) == "The 'port' parameter of eml.connect must be a str. Got 3 instead. " \
                     "Pass 'virtual'."
    assert str(invalid("port", 3, "a str")) == \
        "The 'port' parameter must be a str. Got 3 instead."


def test_a_long_value_is_shown_shortened_on_one_line():
    text = str(invalid("x", np.arange(1000), "a number"))
    assert text.startswith("The 'x' parameter must be a number. Got array([ 0, 1, 2,")
    assert text.endswith("... instead.") and "\n" not in text and len(text) < 140


def test_one_of():
    assert one_of("features", "int16", ("float32", "int16")) == "int16"
    with pytest.raises(InputError, match=r"^The 'features' parameter of eml\.convert must be "
                                         r"'float32' or 'int16'\. Got 'x' instead\.$"):
        one_of("features", "x", ("float32", "int16"), owner="eml.convert")
    with pytest.raises(InputError, match=r"^The 'form' parameter must be 'table'\. Got "
                                         r"'inline' instead\. Trees only\.$"):
        one_of("form", "inline", ("table",), remedy="Trees only.")
    with pytest.raises(InputError, match=r"must be one of 'a', 'b', 'c'\. Got \['a'\] instead"):
        one_of("rule", ["a"], ("a", "b", "c"))
    with pytest.raises(InputError, match=r"must be 'a'\. Got \['a'\] instead"):
        one_of("rule", ["a"], frozenset("a"))     # unhashable value, set of choices


def test_one_of_raises_the_error_class_it_is_given():
    class Both(InputError, UnsupportedModelError):
        pass
    with pytest.raises(Both, match=r"^The 'features' parameter"):
        one_of("features", "x", ("float32",), error=Both)


@pytest.mark.parametrize("value", [0, -1, 9, True, 2.0, "3", np.float64(1.0)])
def test_int_in_refuses(value):
    with pytest.raises(InputError, match=r"^The 'leaf_bits' parameter of eml\.compress must "
                                         r"be an int in the range \[1, 8\]\. Got .* instead\. "
                                         r"0 is hard voting\.$"):
        int_in("leaf_bits", value, 1, 8, owner="eml.compress", remedy="0 is hard voting.")


def test_int_in_accepts_ints_and_none_when_allowed():
    assert int_in("n", 1, 1) == 1 and int_in("n", np.int16(8), 1, 8) == 8
    assert int_in("n", 10**12, 1) == 10**12
    assert int_in("n", None, 1, allow_none=True) is None
    with pytest.raises(InputError, match=r"must be an int in the range \[1, inf\)\. Got None"):
        int_in("n", None, 1)
    with pytest.raises(InputError, match=r"must be an int in the range \[1, inf\) or None\. "
                                         r"Got 0 instead\.$"):
        int_in("n", 0, 1, allow_none=True)


@pytest.mark.parametrize("value", [0, -0.5, float("nan"), float("inf"), True, "1", None])
def test_number_in_open_low_end_refuses(value):
    with pytest.raises(InputError, match=r"^The 'window_s' parameter must be a number in the "
                                         r"range \(0, inf\)\. Got .* instead\.$"):
        number_in("window_s", value, 0, low_open=True)


def test_number_in_accepts_numbers_in_range():
    assert number_in("p", 0, 0, 1) == 0 and number_in("p", 1, 0, 1) == 1
    assert number_in("p", np.float32(0.5), 0, 1) == np.float32(0.5)
    assert number_in("s", 1e-9, 0, low_open=True) == 1e-9
    with pytest.raises(InputError, match=r"must be a number in the range \[0, 1\]\. Got 1\.5 "):
        number_in("p", 1.5, 0, 1)


@pytest.mark.parametrize("value", ["2fast", "", "a-b", "__x", "é", 3, None, "int"])
def test_identifier_refuses(value):
    with pytest.raises(InputError, match=r"^The 'name' parameter of export_c must be a C "
                                         r"identifier \(ASCII letters, digits and '_', not "
                                         r"starting with a digit or '__'\) and not a "
                                         r"reserved word\. Got .* instead\. E\.g\. 'm'\.$"):
        identifier("name", value, reserved={"int"}, owner="export_c", remedy="E.g. 'm'.")


def test_identifier_accepts():
    assert identifier("name", "_gesture_model2") == "_gesture_model2"
    assert identifier("name", "int") == "int"          # reserved only when told


# -- one mistake, one message from every entry point -------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, y)
    net = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2000, random_state=0).fit(X, y)
    return forest, net, X


@pytest.mark.parametrize("owner", ["eml.convert", "eml.compress"])
def test_an_unknown_features_value_reads_alike_from_convert_and_compress(tiny, owner):
    call = {"eml.convert": eml.convert, "eml.compress": eml.compress}[owner]
    with pytest.raises(InputError, match=rf"^The 'features' parameter of {re.escape(owner)} "
                                         r"must be 'float32' or 'int16'\. Got 'x' instead\.$"):
        call(tiny[0], features="x")


def test_an_unknown_features_value_is_still_caught_as_unsupported_model_error(tiny):
    # eml.convert raised UnsupportedModelError (a TypeError) for it before this module.
    with pytest.raises(UnsupportedModelError, match=r"^The 'features' parameter"):
        eml.convert(tiny[0], features="x")
    with pytest.raises(TypeError, match=r"^The 'features' parameter"):
        eml.convert(tiny[0], features="x")


@pytest.mark.parametrize("owner,kwargs,needed", [
    ("eml.convert", {"weights": "int8"}, "weights='int8'"),
    ("eml.compress", {"features": "int16"}, "features='int16'"),
])
def test_a_missing_x_calib_reads_alike_from_convert_and_compress(tiny, owner, kwargs, needed):
    call, model = {"eml.convert": (eml.convert, tiny[1]),
                   "eml.compress": (eml.compress, tiny[0])}[owner]
    with pytest.raises(InputError, match=rf"^The 'X_calib' parameter of {re.escape(owner)} "
                                         r"must be rows of training features when "
                                         rf"{needed}\. Got None instead\. .*pass e\.g\. "
                                         r"X_calib=X_train\.$"):
        call(model, **kwargs)
