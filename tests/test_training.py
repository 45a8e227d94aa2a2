"""Training helpers: folds keep recordings apart, 3-D windows reach the estimator, the search
switches to random sampling past 50 combinations, and the reports match scikit-learn."""
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.metrics import precision_recall_fscore_support as sk_prfs
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    RandomizedSearchCV,
    StratifiedGroupKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from emlearn_lab.exceptions import InputError
from emlearn_lab.labels import LabelSet
from emlearn_lab.recordings.recording import Recording
from emlearn_lab.training import (
    ClassReport,
    class_report,
    cross_validate,
    group_cv,
    plot_confusion,
    search,
)
from emlearn_lab.windowing import windows

N_REC = 5


def group_of(X):
    """Every sample of recording i is 1000 * i + its index: the group is readable from X."""
    return set((X[:, 0, 0] // 1000).astype(int).tolist())


class GroupSpy(ClassifierMixin, BaseEstimator):
    """Remembers which recordings it was trained on; predicts the first class."""

    def __init__(self, depth=1):
        self.depth = depth

    def fit(self, X, y):
        assert X.ndim == 3                  # windows reach the estimator unflattened
        self.train_groups_ = group_of(X)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def spy_scorer(seen):
    def disjoint(estimator, X, y):
        test = group_of(X)
        seen.append((estimator.train_groups_, test))
        return float(bool(test) and not test & estimator.train_groups_)
    return disjoint


@pytest.fixture(scope="module")
def win():
    # lengths differ, so folds of plain (group-blind) K-fold would cut through recordings
    recs = [Recording(1000 * i + np.arange(30 + 7 * i, dtype=np.int16), samplerate_hz=10)
            for i in range(N_REC)]
    sets = [LabelSet([(0, 1.5, "a"), (1.5, r.duration_s, "b")], recording=r) for r in recs]
    return windows(recs, sets, window_s=1.0, hop_s=0.5)


def flatten(X):
    return X.reshape(len(X), -1)


# -- folds by recording ----------------------------------------------------------------------

def test_group_cv_is_stratified_group_kfold(win):
    cv = group_cv(4)
    assert isinstance(cv, StratifiedGroupKFold) and cv.n_splits == 4
    for train, test in cv.split(win.X, win.y, groups=win.groups):
        assert not set(win.groups[train]) & set(win.groups[test])


def test_every_training_fold_has_every_class_when_groups_allow():
    # 3 sessions per class, one class's sessions listed together: plain GroupKFold puts
    # them all in one test fold; the stratified folds keep each class in every training set.
    recs, sets = [], []
    for i, c in enumerate("aaabbbccc"):
        rec = Recording(np.random.default_rng(i).normal(size=(40, 1)).astype(np.float32),
                        samplerate_hz=10)
        recs.append(rec)
        sets.append(LabelSet([(0, 4, c)], recording=rec))
    win = windows(recs, sets, window_s=1.0)
    for train, _ in group_cv(3).split(win.X, win.y, win.groups):
        assert set(win.y[train]) == {"a", "b", "c"}
    train, test = win.split(test_size=1 / 3)
    assert set(train.y) == {"a", "b", "c"} and not set(train.groups) & set(test.groups)


def test_cross_validate_never_tests_on_a_training_recording(win):
    seen = []
    result = cross_validate(GroupSpy(), win, cv=5, scoring=spy_scorer(seen))
    assert result["test_score"].tolist() == [1.0] * 5
    tested = sorted(g for _, test in seen for g in test)
    assert tested == list(range(N_REC))             # each recording is a test fold once
    seen.clear()
    reduced = cross_validate(GroupSpy(), win, cv=10, scoring=spy_scorer(seen))
    assert len(reduced["test_score"]) == N_REC       # no more folds than recordings


def test_cross_validate_pipeline_flattening_3d_windows(win):
    model = make_pipeline(FunctionTransformer(flatten), DecisionTreeClassifier(random_state=0))
    result = cross_validate(model, win, cv=3)
    assert result["test_score"].shape == (3,)
    assert np.all((0 <= result["test_score"]) & (result["test_score"] <= 1))
    own = cross_validate(model, win, cv=GroupKFold(2), scoring="accuracy")
    assert own["test_score"].shape == (2,)


def test_cross_validate_errors(win):
    one = win[win.groups == 0]
    with pytest.raises(InputError, match=r"at least 2 recordings; got cv=5 and 1 recording\. "
                                         r"Pass more recordings"):
        cross_validate(GroupSpy(), one)
    with pytest.raises(InputError, match=r"cv >= 2 folds .* got cv=1"):
        cross_validate(GroupSpy(), win, cv=1)
    with pytest.raises(InputError, match=r"expected Windows \(made by eml.windows.*got tuple"):
        cross_validate(GroupSpy(), (win.X, win.y))
    with pytest.raises(InputError, match=r"at least 2 recordings"):
        search(GroupSpy(), {"depth": [1]}, one)


# -- search ----------------------------------------------------------------------------------

def test_search_grid_by_recording(win):
    seen = []
    found = search(GroupSpy(), {"depth": [1, 2]}, win, scoring=spy_scorer(seen))
    assert isinstance(found, GridSearchCV) and type(found.best_estimator_) is GroupSpy
    assert found.cv_results_["mean_test_score"].tolist() == [1.0, 1.0]
    assert len(seen) == 2 * N_REC
    assert found.best_estimator_.train_groups_ == set(range(N_REC))    # refit on all windows
    model = make_pipeline(FunctionTransformer(flatten), DecisionTreeClassifier(random_state=0))
    tree = search(model, {"decisiontreeclassifier__max_depth": [1, 2, None]}, win, cv=3)
    assert tree.best_params_["decisiontreeclassifier__max_depth"] in (1, 2, None)
    assert tree.best_estimator_.predict(win.X).shape == (len(win),)
    assert not hasattr(search(model, {"decisiontreeclassifier__max_depth": [1]}, win,
                              refit=False), "best_estimator_")


def test_search_samples_50_of_a_large_grid(win):
    grid = {"depth": list(range(60))}
    found = search(GroupSpy(), grid, win, scoring="accuracy")
    assert isinstance(found, RandomizedSearchCV)
    assert len(found.cv_results_["params"]) == 50
    again = search(GroupSpy(), grid, win, scoring="accuracy")
    assert again.cv_results_["params"] == found.cv_results_["params"]
    assert isinstance(search(GroupSpy(), {"depth": list(range(50))}, win), GridSearchCV)


# -- confusion matrix and class report -------------------------------------------------------

Y_TRUE = ["a", "a", "a", "b", "b", "c", "c", "c"]
Y_PRED = ["a", "b", "a", "b", "c", "c", "c", "a"]


def test_plot_confusion_labels_counts_and_no_pyplot_figure():
    before = plt.get_fignums()
    fig = plot_confusion(Y_TRUE, Y_PRED, labels=["c", "a", "b"], title="held-out")
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c", "a", "b"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a", "b"]
    expected = confusion_matrix(Y_TRUE, Y_PRED, labels=["c", "a", "b"])
    assert [t.get_text() for t in ax.texts] == [str(v) for v in expected.ravel()]
    assert ax.get_title() == "held-out"
    normed = plot_confusion(Y_TRUE, Y_PRED, normalize="true").axes[0]
    assert normed.texts[0].get_text() == "0.67"          # 2 of 3 'a' predicted 'a'
    target = Figure().add_subplot()
    assert plot_confusion(Y_TRUE, Y_PRED, ax=target) is target.figure


def test_class_report_matches_sklearn():
    report = class_report(Y_TRUE, Y_PRED)
    assert isinstance(report, ClassReport)
    p, r, f, s = sk_prfs(Y_TRUE, Y_PRED)
    assert [row["class"] for row in report.table] == ["a", "b", "c"]
    np.testing.assert_allclose([row["precision"] for row in report.table], p)
    np.testing.assert_allclose([row["recall"] for row in report.table], r)
    np.testing.assert_allclose([row["f1"] for row in report.table], f)
    assert [row["support"] for row in report.table] == s.tolist() == [3, 2, 3]
    assert report.accuracy == accuracy_score(Y_TRUE, Y_PRED) == 5 / 8
    assert report.macro_f1 == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))
    assert report.table[0]["precision"] == pytest.approx(2 / 3)     # hand: 2 of 3 'a' calls


def test_class_report_absent_class_scores_zero_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = class_report(Y_TRUE, Y_PRED, labels=["c", "a", "b", "d"])
    assert [row["class"] for row in report.table] == ["c", "a", "b", "d"]
    assert report.table[3] == {"class": "d", "precision": 0.0, "recall": 0.0, "f1": 0.0,
                               "support": 0}
    assert report.macro_f1 == pytest.approx(f1_score(
        Y_TRUE, Y_PRED, labels=["c", "a", "b", "d"], average="macro", zero_division=0))


def test_class_report_text_html_and_plot():
    report = class_report(["<b>", "walking", "walking"], ["<b>", "walking", "<b>"])
    lines = str(report).splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "f1", "support"]
    assert lines[1].split() == ["<b>", "0.500", "1.000", "0.667", "1"]
    assert len({len(line) for line in lines[:3]}) == 1            # columns aligned
    assert lines[-1] == "accuracy 0.667, macro F1 0.667"
    page = report._repr_html_()
    assert "<td>&lt;b&gt;</td>" in page and "<b>" not in page and page.count("<tr>") == 3
    fig = report.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [len(bars) for bars in ax.containers] == [2, 2, 2]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["precision", "recall", "f1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["<b>", "walking"]


def test_mismatched_predictions():
    with pytest.raises(InputError, match=r"1-D and of one non-zero length, got shapes "
                                         r"\(3,\) and \(2,\)"):
        class_report(["a", "b", "a"], ["a", "b"])
    with pytest.raises(InputError, match=r"got shapes \(0,\) and \(0,\)"):
        plot_confusion([], [])


def test_every_plot_displays_as_an_image_in_a_fresh_kernel(tmp_path):
    """In a fresh kernel, without %matplotlib, each plot the library makes ends a cell as a
    PNG, never as the text '<Figure size ...>' or '<Axes: ...>' (nbclient runs the cells)."""
    import nbformat
    from nbclient import NotebookClient
    cells = [
        "import emlearn_lab as eml\nimport numpy as np\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "rng = np.random.default_rng(0)\nX = rng.random((200, 4))\ny = (X[:, 0] > .5) + 0\n"
        "clf = RandomForestClassifier(5, max_depth=3, random_state=0).fit(X, y)",
        "eml.plot_confusion(y, clf.predict(X))",
        "eml.class_report(y, clf.predict(X)).plot()",
        "eml.compression_sweep(clf, X, y).plot()",
        "eml.fit_table(clf, ['rp2040-pico', 'esp32-devkitc']).plot()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells[1:]:
        data = [o.get("data", {}) for o in cell.outputs if o.get("output_type") ==
                "execute_result"]
        assert data and "image/png" in data[-1], (cell.source, cell.outputs)
        streams = "".join(o.get("text", "") for o in cell.outputs)
        assert "<Figure size" not in streams and "<Axes" not in streams, cell.source
