"""emlearn_lab: a Jupyter workbench for TinyML on MicroPython.

>>> import emlearn_lab as eml
>>> model = eml.convert(fitted_forest)        # exact host reference        # doctest: +SKIP
>>> dev = eml.connect("virtual")                                            # doctest: +SKIP
>>> print(dev.deploy(model, X_test))          # pushed, verified, timed     # doctest: +SKIP
"""
import sys
import types

from ._lazy import attach
from .exceptions import (
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
                     "estimate", "fit_table", "get_board"], ".boards"),
    **dict.fromkeys(["CompressedTrees", "Sweep", "compress", "compression_sweep"], ".compress"),
    "convert": ".convert",
    "connect": ".device.connect", "list_serial_ports": ".device.connect",
    "FeatureCheck": ".device.feature_report",
    "DeployReport": ".device.report",
    "Device": ".device.transport",
    **dict.fromkeys(["CSize", "c_size", "export_c"], ".export"),
    "glossary": ".glossary",
    "Label": ".labels", "LabelSet": ".labels",
    "NetModel": ".nets.model",
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
_SUBMODULES = {"_kv_report", "_procs", "datasets", "device", "device_src", "export", "features",
               "labels", "nets", "protocol", "recordings", "rows", "runtime", "training", "trees",
               "validate", "widgets", "windowing"}
# Modules that share their name with the function they define: the attribute is the function.
_SHADOWED = {"boards", "compress", "convert", "glossary"}


__getattr__, __dir__ = attach(__name__, _LAZY, _SUBMODULES)


class _Package(types.ModuleType):
    """The import system binds each submodule on its package once loaded; for the modules in
    ``_SHADOWED`` that would replace ``eml.convert`` (the function) with the module whenever
    some other module imported ``emlearn_lab.convert`` first, so those bindings are skipped."""

    def __setattr__(self, name, value):
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    """``%load_ext emlearn_lab``: the %%emlearn_deploy, %emlearn_boards and %emlearn_device
    magics (IPython is imported only here, never by ``import emlearn_lab``)."""
    from .magics import load_ipython_extension as load
    load(ipython)


__all__ = [
    "convert", "compress", "compression_sweep", "CompressedTrees", "Sweep", "connect", "boards",
    "get_board", "add_board", "estimate", "fit_table", "Board", "BoardTable", "Estimate",
    "FitTable", "list_serial_ports", "Device", "DeployReport", "TreeModel", "NetModel",
    "export_c", "c_size", "CSize", "Recording", "RecordingInfo", "load_recording",
    "LabelSet", "Label", "label", "datasets", "windows", "Windows", "features", "FeatureCheck",
    "group_cv", "cross_validate", "search", "plot_confusion", "class_report",
    "EmlearnLabError", "NotFittedError", "UnsupportedModelError", "InputError",
    "ModelFileError", "BuildError", "DeviceError", "DeviceNotFoundError", "DeviceBusyError",
    "DeviceDisconnectedError", "DeviceMemoryError", "DeviceRuntimeError", "DeviceTimeoutError",
    "DeviceStorageError", "RecordingError",
    "LabelError", "LabelFileMismatchError", "glossary",
]
