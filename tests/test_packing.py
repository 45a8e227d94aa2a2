"""The packed node layout (trees/packing.py, model file layout 3) on the host: every word
size and threshold encoding a model fits reads back to the same predictions, nodes out of
depth-first order are reordered, the smallest file is chosen, and a file whose fields do not
fit says why. The device walks are checked in test_mcu.py (virtual device, emulated cores)."""
from dataclasses import replace

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import emlearn_lab as eml
from emlearn_lab.trees.model import TreeModel
from emlearn_lab.trees.modelfile import (LAYOUTS, PACKED, file_kernel_name, from_bytes,
                                         file_layout, to_bytes, unpack_header)
from emlearn_lab.trees.packing import Packing, pack


@pytest.fixture(scope="module")
def models():
    X, y = load_digits(return_X_y=True)
    clf = RandomForestClassifier(6, max_depth=7, random_state=0).fit(X, y)
    Xr, yr = load_diabetes(return_X_y=True)
    reg = RandomForestRegressor(4, max_leaf_nodes=40, random_state=0).fit(Xr, yr)
    # Converted models write split nodes by default (file_layout "split"); None: the
    # smallest file, as compressed models do.
    return {"float32": (replace(eml.convert(clf), file_layout=None), X),
            "int16": (replace(eml.convert(clf, features="int16"), file_layout=None), X),
            "votes": (eml.compress(clf, leaves_per_class=2, leaf_bits=0), X),
            "learned int16": (eml.compress(clf, features="int16", X_calib=X), X),
            "regressor": (replace(eml.convert(reg), file_layout=None), Xr)}


def _variants(model):
    out = {}
    for word in (2, 3, 4):
        for table in (False, True):
            try:
                out[(word, table)] = to_bytes(model, layout="packed", word_bytes=word,
                                              table=table)
            except eml.ModelFileError as e:
                assert "does not fit the 'packed' layout: its fields need" in str(e)
    return out


@pytest.mark.parametrize("name", ["float32", "int16", "votes", "learned int16", "regressor"])
def test_every_packing_reads_back_to_the_same_predictions(models, name):
    model, X = models[name]
    variants = _variants(model)
    assert variants, "the model fits no packing"
    for (word, table), data in variants.items():
        back = from_bytes(data, classes=model.classes_)
        back.leaf_proba = model.leaf_proba
        np.testing.assert_array_equal(back.scores(X), model.scores(X), err_msg=str((word, table)))
        p = Packing.from_code(unpack_header(data)[15])
        assert (p.word_bytes, p.table) == (word, table)
        assert file_kernel_name(data) == "forest_packed%d%s%d%s" % (
            8 * word, "t" if table else "r", 32 if model.features == "float32" else 16,
            "d" if model.leaf_bits is not None else "s")


def test_the_smallest_file_is_written(models):
    for name, (model, _) in models.items():
        sizes = {layout: len(to_bytes(model, layout=layout)) for layout in LAYOUTS[:3]
                 if _fits(model, layout)}
        sizes.update({k: len(v) for k, v in _variants(model).items()})
        assert len(to_bytes(model)) == min(sizes.values()), name
        assert (file_layout(model) == PACKED) == (len(to_bytes(model)) < min(
            v for k, v in sizes.items() if isinstance(k, str))), name


def _fits(model, layout):
    try:
        to_bytes(model, layout=layout)
        return True
    except eml.ModelFileError:
        return False


def test_thresholds_of_a_few_distinct_values_shrink_the_nodes(models):
    """Digits pixels take 17 values: an int16 forest's thresholds are offsets of a few bits
    from the smallest, and the file is smaller than the small layout's."""
    model, _ = models["int16"]
    packed, _ = pack(model)
    assert not packed.packing.table and packed.packing.tb <= 5
    assert len(to_bytes(model)) < 0.85 * len(to_bytes(model, layout="small"))


def _reordered():
    """Two trees whose nodes are stored right subtree first and with an unreachable node:
    the writer reorders them depth first, left first, and drops the unreachable one."""
    one = 1 << 8
    #  node 0: root of tree 0, left -> node 2, right -> node 1; node 1: leaves 0/1;
    #  node 2: leaves 1/2; node 3: unreachable; node 4: root of tree 1, leaves 2/0.
    return TreeModel(kind="classifier", features="int16", n_features=3,
                     feature=np.array([0, 1, 2, 0, 1]),
                     threshold=np.array([32768, 32800, 32700, 1, 32768]),
                     left=np.array([2, 5, 6, 5, 7]), right=np.array([1, 6, 7, 5, 5]),
                     roots=np.array([0, 4]),
                     leaves=np.array([[one, 0, 0], [0, one, 0], [0, 0, one]]), leaf_shift=8,
                     classes_=np.array([0, 1, 2]))


def test_nodes_out_of_order_are_reordered_and_unreachable_ones_dropped():
    model = _reordered()
    data = to_bytes(model, layout="packed")
    back = from_bytes(data, classes=model.classes_)
    assert back.n_nodes == 4
    X = np.array(np.meshgrid([-40, 0, 1, 40], [-40, 0, 31, 33, 40], [-80, -68, -67, 0]),
                 dtype=np.int16).reshape(3, -1).T
    np.testing.assert_array_equal(back.scores(X), model.scores(X))
    assert (back.left[back.left < back.n_nodes] == np.flatnonzero(back.left < back.n_nodes)
            + 1).all()


def test_a_node_reached_twice_cannot_be_packed():
    model = _reordered()
    model.right = model.right.copy()
    model.right[1] = 2                  # node 2: node 0's left child and node 1's right child
    assert pack(model) == (None, "the model's nodes do not form separate trees")
    assert file_layout(model) != PACKED
    with pytest.raises(eml.ModelFileError, match="do not form separate trees"):
        to_bytes(model, layout="packed")


def test_file_layout_picks_the_faster_file(models):
    """A model's file_layout overrides the smallest file: the file, the walker deployed with
    it (kernel_name) and the estimates (latency.work_counts) follow it. eml.convert's models
    write split nodes, eml.compress's the smallest file."""
    from emlearn_lab.board_fit.latency import work_counts
    from emlearn_lab.trees.modelfile import kernel_name
    model, _ = models["int16"]
    assert file_layout(model) == PACKED and work_counts("loadable", model, 10)["visit_packed"]
    fast = replace(model, file_layout="small")
    assert to_bytes(fast) == to_bytes(model, layout="small")
    assert kernel_name(fast) == "forest_small16s" and work_counts("loadable", fast, 10)[
        "visit_packed"] == 0
    with pytest.raises(eml.ModelFileError, match="layout must be one of"):
        to_bytes(replace(model, file_layout="fast"))
    converted = replace(model, file_layout="split")
    assert kernel_name(converted) == "forest_small16s" and file_layout(converted) != PACKED
    assert models["votes"][0].file_layout is None and eml.convert(
        RandomForestClassifier(2, max_depth=2).fit(*load_digits(return_X_y=True))
    ).file_layout == "split"
    assert from_bytes(to_bytes(model)).file_layout == "packed"
