"""The model protocol (emlearn_lab/protocol.py): a kind of model registered from outside
device/, live/ and board_fit/ is deployed, verified, predicted on the device and estimated by
the same code paths as the built-in kinds."""
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

import emlearn_lab as eml
from emlearn_lab.protocol import Model, is_model, model_types, register
from emlearn_lab.trees.model import TreeModel


def test_the_built_in_kinds_implement_the_protocol():
    assert set(model_types()) >= {eml.TreeModel, eml.NetModel}
    X, y = load_iris(return_X_y=True)
    model = eml.convert(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y))
    assert isinstance(model, Model) and is_model(model)
    index, scores = model.predict_index(X), model.scores(X)
    assert (model.decode(index, scores) == model.predict(X)).all()


def test_register_refuses_a_class_that_lacks_part_of_the_protocol():
    class Half:
        def check_X(self, X):
            return X
    with pytest.raises(TypeError, match="Half does not implement the Model protocol: it "
                                        "lacks scores, predict_index, decode"):
        register(Half)
    assert Half not in model_types()


class Scaled:
    """A new kind of model, written as a newcomer would, outside device/, live/ and board_fit/:
    it delegates to a tree model but is its own class, so every consumer must reach it
    through the protocol (an isinstance(TreeModel) branch anywhere would not see it)."""

    def __init__(self, tree: TreeModel):
        self._tree = tree
        self.kind, self.n_features, self.classes_ = tree.kind, tree.n_features, tree.classes_
        self.calls = []

    device_forms = ("loadable",)

    n_outputs = property(lambda self: self._tree.n_outputs)
    score_dtype = property(lambda self: self._tree.score_dtype)

    def __getattr__(self, name):          # sizes and arrays the tree runtime reads
        return getattr(self._tree, name)

    def check_X(self, X):
        return self._tree.check_X(X)

    def scores(self, X):
        return self._tree.scores(X)

    def predict_index(self, X):
        return self._tree.predict_index(X)

    def decode(self, index, scores):
        self.calls.append("decode")
        return self.classes_[index]

    def device_plan(self, form, target, name, heap_free_bytes):
        self.calls.append("device_plan")
        return self._tree.device_plan("loadable" if form == "auto" else form, target, name,
                                      heap_free_bytes)

    def device_remedy(self, form):
        return "Try a smaller Scaled model"

    def pipeline_input_error(self):
        return None

    def board_estimate(self, board, form, bundle, X=None):
        self.calls.append("board_estimate")
        return self._tree.board_estimate(board, form, bundle, X)

    def __repr__(self):
        return f"Scaled({self._tree!r})"


@pytest.fixture
def scaled_registered():
    from emlearn_lab import protocol
    register(Scaled)
    yield
    protocol._TYPES.remove(Scaled)


@pytest.mark.device
def test_a_registered_kind_needs_no_change_to_deploy_or_estimate(device, scaled_registered):
    X, y = load_iris(return_X_y=True)
    tree = eml.convert(DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y))
    model = Scaled(tree)
    assert eml.convert(model) is model
    est = eml.estimate(model, "rp2040-pico", X=X[:20])
    assert est.fits and est.flash_bytes == eml.estimate(tree, "rp2040-pico", "loadable").flash_bytes
    report = device.deploy(model, X[:40], name="scaled", repeats=2)
    assert report.agreement == 1.0 and report.form == "loadable"
    got = device.predict(X[40:60], name="scaled")
    assert np.array_equal(got, tree.predict(X[40:60]))
    assert model.calls.count("decode") == 1
    assert {"device_plan", "board_estimate"} <= set(model.calls)
