"""export_c: a model -> a self-contained C99 model header (plus the runtime it includes)."""
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..exceptions import UnsupportedModelError
from ..nets.model import NetModel
from ..trees.model import TreeModel
from ..validate import identifier, invalid, one_of
from . import c_net, c_trees

__all__ = ["export_c", "model_header", "dispatch", "runtime_header_path", "check_name"]

_C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed sizeof static
struct switch typedef union unsigned void volatile while _Bool _Complex _Imaginary bool class
delete new namespace template this throw try catch private public protected virtual operator
friend typename using true false""".split())


def runtime_header_path(runtime: str = c_trees.RUNTIME_HEADER) -> Path:
    """A runtime header model headers include (csrc/eml_lab_trees.h, csrc/eml_lab_net.h)."""
    return Path(__file__).resolve().parent.parent / "csrc" / runtime


def check_name(name) -> str:
    """``name`` if it is a C identifier usable as a prefix, else InputError."""
    return identifier("name", name, reserved=_C_KEYWORDS, owner="export_c",
                      remedy="C and C++ keywords are reserved (it prefixes every name in the "
                             "header): e.g. name='gesture_model'.")


@dataclass(frozen=True)
class Exporter:
    """How export_c writes one kind of model."""
    model: object              # the model as its header function takes it
    header: Callable           # header(model, name, form) -> C source
    input_ctype: str           # C type of the features
    runtime: str               # the runtime header (in csrc/) the model header includes
    forms: tuple               # forms it can write, the first is the default
    includes: tuple = ()       # runtime headers that one includes in turn


def dispatch(model) -> Exporter:
    """The exporter for each kind of model export_c writes: trees and networks."""
    from ..conversion import convert, convertible
    if hasattr(model, "steps"):
        raise UnsupportedModelError(
            "a Pipeline is not one model: C export writes the model only; export its final "
            "estimator (export_c(pipe[-1], ...)) and compute the features its earlier steps "
            "compute in your firmware")
    model = convert(model) if convertible(model) else model
    if isinstance(model, TreeModel):
        return Exporter(model, c_trees.tree_header, c_trees.input_ctype(model),
                        c_trees.RUNTIME_HEADER, c_trees.FORMS)
    if isinstance(model, NetModel):
        return Exporter(model, lambda m, name, form: c_net.net_header(m, name),
                        "float", c_net.RUNTIME_HEADER, ("table",))
    from ..anomaly.isolation import IsolationModel
    if isinstance(model, IsolationModel):
        from .c_iforest import iforest_header
        return Exporter(model, iforest_header, "float", c_trees.RUNTIME_HEADER, c_trees.FORMS)
    from ..neighbors.model import KNNModel
    if isinstance(model, KNNModel):
        from . import c_knn
        return Exporter(model, c_knn.knn_header, "int16_t" if model.features == "int16"
                        else "float", c_knn.RUNTIME_HEADER, ("table",), (c_net.RUNTIME_HEADER,))
    from ..gauss.model import GaussModel
    if isinstance(model, GaussModel):
        from .c_gauss import RUNTIME_HEADER, gauss_header
        return Exporter(model, gauss_header, "float", RUNTIME_HEADER, ("table",),
                        (c_net.RUNTIME_HEADER,))
    raise UnsupportedModelError(
        f"export_c supports TreeModel / NetModel (from eml.convert / eml.compress), "
        f"CompressedTrees, fitted scikit-learn tree and MLP estimators, Keras Sequential "
        f"models, detectors (IsolationForest, GaussianMixture, EllipticEnvelope) and "
        f"KNeighbors models, got "
        f"{type(model).__name__}: convert it first with eml.convert()")


def _check_form(exporter: Exporter, form: str, owner: str = "export_c") -> None:
    one_of("form", form, exporter.forms, owner=owner,
           remedy="'table' is smallest, 'inline' fastest." if len(exporter.forms) > 1 else
           "This model is written as a table only ('inline' is for trees).")


def model_header(model, name: str = "model", form: str = "table") -> str:
    """C source of the model header, without writing files (see :func:`export_c`)."""
    check_name(name)
    exporter = dispatch(model)
    _check_form(exporter, form)
    return exporter.header(exporter.model, name, form)


def export_c(model, path, name: str = "model", form: str = "table") -> list:
    """Write a C99 model header and copy the runtime header it includes next to it.

    Parameters
    ----------
    model : TreeModel (from ``eml.convert`` / ``eml.compress``), a fitted CompressedTrees, a
        fitted scikit-learn DecisionTree / RandomForest / ExtraTrees estimator (converted with
        ``eml.convert``: float32 features), a NetModel (float32 or int8 weights; a fitted
        MLP or Keras Sequential model is converted with float32 weights), or a detector
        (IsolationForest, GaussianMixture, BayesianGaussianMixture, EllipticEnvelope,
        converted or fitted), or a KNNModel (with the examples the host mirrors).
    path : str or Path
        The model header to write, e.g. ``"firmware/src/gesture_model.h"``. Its directory must
        exist.
    name : str
        C identifier prefixing everything in the header: ``<name>_predict``,
        ``<NAME>_N_FEATURES``, ...
    form : {"table", "inline"}
        "table": arrays walked by the runtime (smallest); "inline": if/else code per tree
        (fastest, larger; trees only).

    Returns
    -------
    list of Path
        The model header and the runtime headers it includes (``eml_lab_trees.h``,
        ``eml_lab_net.h``; Gaussian detectors and neighbours ``eml_lab_gauss.h`` or
        ``eml_lab_knn.h`` and ``eml_lab_net.h``), all in path's directory: together they are
        all a firmware needs.

    Raises
    ------
    InputError
        ``name`` is not a C identifier, unknown ``form``, or path's directory does not exist.
    UnsupportedModelError
        Not a model export_c can write.

    Examples
    --------
    >>> import emlearn_lab as eml                                   # doctest: +SKIP
    >>> eml.export_c(eml.convert(clf), "src/model.h", name="model")  # doctest: +SKIP
    [PosixPath('src/model.h'), PosixPath('src/eml_lab_trees.h')]
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise invalid("path", str(path), "in an existing directory", owner="export_c",
                      remedy=f"Directory {str(path.parent)!r} does not exist; create it first "
                             "(e.g. os.makedirs).")
    runtimes = (c_trees.RUNTIME_HEADER, c_net.RUNTIME_HEADER, "eml_lab_gauss.h",
                "eml_lab_knn.h")
    if path.suffix != ".h" or path.name in runtimes:
        raise invalid("path", str(path), "a C header ending in '.h' (other than "
                      f"{', '.join(map(repr, runtimes[:-1]))} or {runtimes[-1]!r})",
                      owner="export_c")
    exporter = dispatch(model)
    source = model_header(exporter.model, name, form)
    if path.name != f"{name}.h":
        # The header names itself (and its #include line) by the file it is written to.
        source = source.replace(f"{name}.h", path.name)
    path.write_text(source)
    written = [path]
    for header in (exporter.runtime,) + exporter.includes:
        runtime = path.parent / header
        if runtime.resolve() != runtime_header_path(header):
            shutil.copyfile(runtime_header_path(header), runtime)
        written.append(runtime)
    return written
