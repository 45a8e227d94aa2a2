"""Train and evaluate on :class:`~emlearn_lab.windowing.Windows` without leaking recordings:
every split keeps whole recordings apart. Results are plain scikit-learn objects."""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from sklearn import model_selection
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, precision_recall_fscore_support
from sklearn.utils.multiclass import unique_labels

from .exceptions import InputError
from .windowing import Windows

__all__ = ["group_cv", "cross_validate", "search", "plot_confusion", "class_report",
           "ClassReport"]

MAX_GRID = 50       # more combinations than this are sampled (RandomizedSearchCV) instead


def group_cv(n_splits: int = 5) -> model_selection.StratifiedGroupKFold:
    """K-fold cross-validation by recording, with the classes balanced across folds as far
    as whole groups allow: :class:`sklearn.model_selection.StratifiedGroupKFold` (shuffled,
    ``random_state=0``). Plain GroupKFold can put every recording of a class in one test
    fold, leaving the model of that fold without the class.

    Pass ``groups=win.groups`` to its ``split`` (or to any scikit-learn function taking
    ``cv=``), so that no recording has windows in both the training and the test folds.

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2 and at most the number of recordings.

    Returns
    -------
    sklearn.model_selection.StratifiedGroupKFold

    Raises
    ------
    ValueError
        ``n_splits`` < 2 (raised by scikit-learn when splitting).

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> scores = cross_val_score(model, win.X, win.y, groups=win.groups,
    ...                          cv=group_cv(4))                            # doctest: +SKIP
    """
    return model_selection.StratifiedGroupKFold(n_splits=n_splits, shuffle=True,
                                                random_state=0)


def _folds(win, cv):
    if not isinstance(win, Windows):
        raise InputError(f"expected Windows (made by eml.windows(recordings, labels, "
                         f"window_s=...)), got {type(win).__name__}")
    if not isinstance(cv, (int, np.integer)) or isinstance(cv, bool):
        return cv           # a splitter of the caller's; it is given groups=win.groups
    n_groups = len(np.unique(win.groups))
    if cv < 2 or n_groups < 2:
        raise InputError(f"cross-validation by recording needs cv >= 2 folds and windows from "
                         f"at least 2 recordings; got cv={cv} and {n_groups} recording"
                         f"{'s' * (n_groups != 1)}. Pass more recordings, or cut one in time "
                         "with Recording.slice_s and window the parts")
    return group_cv(min(int(cv), n_groups))


def cross_validate(estimator, win: Windows, *, cv=5, scoring="f1_macro",
                   n_jobs: int | None = None) -> dict:
    """Cross-validate ``estimator`` on windows, folds made of whole recordings.

    ``estimator`` gets 3-D ``win.X`` (windows × samples × channels): use a pipeline whose
    first step turns windows into features.

    Parameters
    ----------
    estimator : scikit-learn estimator
    win : Windows
    cv : int or cross-validation splitter
        Number of :func:`group_cv` folds, reduced to the number
        of recordings if there are fewer; or a splitter, which is passed ``groups``.
    scoring : str, callable, list or dict
        As for :func:`sklearn.model_selection.cross_validate`.
    n_jobs : int, optional

    Returns
    -------
    dict
        What :func:`sklearn.model_selection.cross_validate` returns: ``test_score``,
        ``fit_time``, ``score_time`` (``test_<name>`` for several scorers).

    Raises
    ------
    InputError
        ``win`` is not Windows, or an int ``cv`` with fewer than 2 folds or recordings.

    Examples
    --------
    >>> result = cross_validate(make_pipeline(features, RandomForestClassifier()),
    ...                         win, cv=4)                                  # doctest: +SKIP
    >>> result["test_score"].mean()                                         # doctest: +SKIP
    """
    folds = _folds(win, cv)
    return model_selection.cross_validate(estimator, win.X, win.y, groups=win.groups,
                                          cv=folds, scoring=scoring, n_jobs=n_jobs)


def search(estimator, param_grid, win: Windows, *, cv=5, scoring="f1_macro",
           n_jobs: int | None = None, refit=True):
    """Search hyper-parameters with folds made of whole recordings; returns the fitted search.

    Up to 50 combinations in ``param_grid`` are all tried
    (:class:`~sklearn.model_selection.GridSearchCV`); beyond that, 50 of them are sampled
    with :class:`~sklearn.model_selection.RandomizedSearchCV` (``n_iter=50,
    random_state=0``), so a large grid costs 50 fits per fold, not all of them.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Given 3-D ``win.X``, as for :func:`cross_validate`.
    param_grid : dict or list of dict
        Parameter names (``step__param`` in a pipeline) to lists of values.
    win : Windows
    cv : int or cross-validation splitter
        As for :func:`cross_validate`.
    scoring : str, callable, list or dict
    n_jobs : int, optional
    refit : bool or str
        Refit the best parameters on all windows (``best_estimator_``).

    Returns
    -------
    sklearn.model_selection.GridSearchCV or RandomizedSearchCV
        Fitted: ``best_params_``, ``best_score_``, ``cv_results_``, ``best_estimator_``.

    Raises
    ------
    InputError
        As for :func:`cross_validate`.

    Examples
    --------
    >>> found = search(pipe, {"forest__max_depth": [4, 8, None]}, win)      # doctest: +SKIP
    >>> found.best_params_, found.best_score_                               # doctest: +SKIP
    """
    folds = _folds(win, cv)
    if len(model_selection.ParameterGrid(param_grid)) > MAX_GRID:
        found = model_selection.RandomizedSearchCV(
            estimator, param_grid, n_iter=MAX_GRID, random_state=0, cv=folds, scoring=scoring,
            n_jobs=n_jobs, refit=refit)
    else:
        found = model_selection.GridSearchCV(estimator, param_grid, cv=folds, scoring=scoring,
                                             n_jobs=n_jobs, refit=refit)
    return found.fit(win.X, win.y, groups=win.groups)


def _pair(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape or not len(y_true):
        raise InputError(f"y_true and y_pred must be 1-D and of one non-zero length, got "
                         f"shapes {y_true.shape} and {y_pred.shape}")
    return y_true, y_pred


def plot_confusion(y_true, y_pred, *, labels=None, normalize=None, ax=None, title=None):
    """Confusion matrix (true label per row, predicted per column), each cell annotated.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (n,)
    labels : sequence, optional
        Classes and their order (default: those in either array, sorted; ``win.classes`` is
        usually better).
    normalize : {None, "true", "pred", "all"}
        Show counts, or fractions of each row, column or of all.
    ax : matplotlib.axes.Axes, optional
        Draw there; default a new Figure (not registered with pyplot: nothing to close; it
        shows as an image at the end of a notebook cell, see emlearn_lab/_figures.py).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        ``y_true`` and ``y_pred`` differ in length or are empty.

    Examples
    --------
    >>> fig = plot_confusion(test.y, model.predict(test.X), labels=test.classes)  # doctest: +SKIP
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if ax is None:
        from ._figures import new_axes
        n = len(labels) if labels is not None else len(unique_labels(y_true, y_pred))
        ax = new_axes((2.5 + 0.6 * n, 2 + 0.6 * n))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, normalize=normalize,
                                            ax=ax, xticks_rotation=45, colorbar=False,
                                            values_format=".2f" if normalize else "d")
    if title:
        ax.set_title(title)
    return ax.figure


@dataclass(frozen=True)
class ClassReport:
    """Precision, recall and F1 per class (made by :func:`class_report`).

    Attributes
    ----------
    table : list of dict
        One ``{"class", "precision", "recall", "f1", "support"}`` per class.
    accuracy : float
    macro_f1 : float
        Unweighted mean of the F1 of the classes.
    """

    table: list
    accuracy: float
    macro_f1: float

    def __str__(self) -> str:
        width = max([5, *(len(str(r["class"])) for r in self.table)])
        lines = [f"{'class':<{width}}  precision  recall     f1  support"]
        lines += [f"{str(r['class']):<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  "
                  f"{r['f1']:5.3f}  {r['support']:7d}" for r in self.table]
        lines.append(f"accuracy {self.accuracy:.3f}, macro F1 {self.macro_f1:.3f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("class", "precision", "recall", "F1",
                                                 "support"))
        rows = "".join(
            f"<tr><td>{html.escape(str(r['class']))}</td><td>{r['precision']:.3f}</td>"
            f"<td>{r['recall']:.3f}</td><td>{r['f1']:.3f}</td><td>{r['support']}</td></tr>"
            for r in self.table)
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                f"<p>accuracy {self.accuracy:.3f}, macro F1 {self.macro_f1:.3f}</p>")

    def plot(self, ax=None):
        """Grouped bars of precision, recall and F1 per class; returns the Figure."""
        if ax is None:
            from ._figures import new_axes
            ax = new_axes((2 + 0.9 * len(self.table), 3))
        x = np.arange(len(self.table))
        for k, key in enumerate(("precision", "recall", "f1")):
            ax.bar(x + (k - 1) * 0.27, [r[key] for r in self.table], width=0.27, label=key)
        ax.set_xticks(x, [str(r["class"]) for r in self.table])
        ax.set_ylim(0, 1.05)
        ax.legend(loc="lower right")
        ax.set_title(f"accuracy {self.accuracy:.3f}, macro F1 {self.macro_f1:.3f}")
        return ax.figure


def class_report(y_true, y_pred, *, labels=None) -> ClassReport:
    """Precision, recall, F1 and support per class, with accuracy and macro F1.

    A class never predicted (or absent from ``y_true``) scores 0 rather than warning.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (n,)
    labels : sequence, optional
        Classes and their order (default: those in either array, sorted).

    Returns
    -------
    ClassReport
        Prints as an aligned table, shows as HTML in a notebook, ``.plot()`` draws bars.

    Raises
    ------
    InputError
        ``y_true`` and ``y_pred`` differ in length or are empty.

    Examples
    --------
    >>> print(class_report(["a", "a", "b"], ["a", "b", "b"]))
    class  precision  recall     f1  support
    a          1.000   0.500  0.667        2
    b          0.500   1.000  0.667        1
    accuracy 0.667, macro F1 0.667
    """
    y_true, y_pred = _pair(y_true, y_pred)
    labels = list(unique_labels(y_true, y_pred) if labels is None else labels)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                 zero_division=0)
    table = [{"class": c.item() if isinstance(c, np.generic) else c, "precision": float(pi),
              "recall": float(ri), "f1": float(fi), "support": int(si)}
             for c, pi, ri, fi, si in zip(labels, p, r, f, s)]
    return ClassReport(table, float(accuracy_score(y_true, y_pred)), float(np.mean(f)))
