"""emlearn_lab: a Jupyter workbench for TinyML on MicroPython.

>>> import emlearn_lab as eml
>>> model = eml.convert(fitted_forest)        # exact host reference        # doctest: +SKIP
>>> dev = eml.connect("virtual")                                            # doctest: +SKIP
>>> print(dev.deploy(model, X_test))          # pushed, verified, timed     # doctest: +SKIP
"""
from ._lazy import attach
from .exceptions import (  # noqa: F401  (every error is an attribute: eml.DeviceTimeoutError)
                     BrowserLinkError,
                     BuildError,
                     DeviceBusyError,
                     DeviceDisconnectedError,
                     DeviceError,
                     DeviceMemoryError,
                     DeviceNotFoundError,
                     DeviceRuntimeError,
                     DeviceStorageError,
                     DeviceTimeoutError,
                     EmlearnLabError,
                     InputError,
                     LabelError,
                     LabelFileMismatchError,
                     ModelFileError,
                     NotFittedError,
                     RecordingError,
                     UnsupportedModelError,
)

# Everything else is imported on first use: public name -> the module that defines it.
_LAZY = {
    **dict.fromkeys(["Board", "BoardTable", "Estimate", "FitTable", "add_board", "boards",
                     "estimate", "fit_table", "get_board"], ".board_fit"),
    **dict.fromkeys(["CompressedTrees", "compress"], ".compression"),
    **dict.fromkeys(["Sweep", "compression_sweep"], ".sweep"),
    "convert": ".conversion",
    **dict.fromkeys(["DeviceApp", "post", "actions", "sensors"], ".app"),
    "connect": ".device.connect", "list_serial_ports": ".device.connect",
    "connect_browser": ".device.webserial.connect",
    "FeatureCheck": ".device.feature_report",
    "DeployReport": ".device.report",
    "Device": ".device.transport",
    **dict.fromkeys(["CSize", "c_size", "export_c"], ".export"),
    "glossary": ".terms",
    "Label": ".labels", "LabelSet": ".labels",
    "NetModel": ".nets.model",
    "IsolationModel": ".anomaly.isolation", "GaussModel": ".gauss.model",
    "KNNModel": ".neighbors.model",
    "load_recording": ".recordings.load",
    "Recording": ".recordings.recording", "RecordingInfo": ".recordings.recording",
    **dict.fromkeys(["class_report", "cross_validate", "group_cv", "plot_confusion", "search"],
                    ".training"),
    "TreeModel": ".trees.model",
    "label": ".widgets",
    "Windows": ".windowing", "windows": ".windowing",
}
# What dir() lists besides: the submodules that importing every public name leaves bound on
# the package (as the eager imports did). Any submodule resolves as ``eml.<name>``, listed or not.
_SUBMODULES = {"_kv_report", "_procs", "anomaly", "app", "board_fit", "compression",
               "conversion", "datasets", "device", "device_src", "export", "features", "gauss",
               "labels", "neighbors", "nets", "paired_drop", "protocol", "recordings", "rows",
               "runtime", "sweep", "sweep_metrics", "terms", "training", "trees", "validate",
               "widgets", "windowing"}

__getattr__, __dir__ = attach(__name__, _LAZY, _SUBMODULES)

__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    """``%load_ext emlearn_lab``: the %%emlearn_deploy, %emlearn_boards and %emlearn_device
    magics (IPython is imported only here, never by ``import emlearn_lab``)."""
    from .magics import load_ipython_extension as load
    load(ipython)


# The public surface: what a notebook calls, the models and devices it holds, the errors worth
# catching by family. The result types (Estimate, DeployReport, FitTable, Sweep, ...) and the
# specific Device*Error classes stay attributes of the package (eml.DeviceTimeoutError) too.
__all__ = [
    "convert", "compress", "compression_sweep", "CompressedTrees", "TreeModel", "NetModel",
    "IsolationModel", "GaussModel", "KNNModel", "anomaly",
    "DeviceApp", "post", "actions", "sensors",
    "connect", "connect_browser", "list_serial_ports", "Device", "boards", "get_board", "add_board", "Board",
    "estimate", "fit_table", "export_c", "c_size", "Recording", "load_recording", "LabelSet",
    "Label", "label", "datasets", "windows", "features", "group_cv", "cross_validate", "search",
    "plot_confusion", "class_report", "glossary", "EmlearnLabError", "InputError",
    "NotFittedError", "UnsupportedModelError", "DeviceError",
]
