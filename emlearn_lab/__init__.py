"""emlearn_lab: a Jupyter workbench for TinyML on MicroPython.

>>> import emlearn_lab as eml
>>> model = eml.convert(fitted_forest)        # exact host reference        # doctest: +SKIP
>>> dev = eml.connect("virtual")                                            # doctest: +SKIP
>>> print(dev.deploy(model, X_test))          # pushed, verified, timed     # doctest: +SKIP
"""
from . import datasets, features
from .boards import (
                     Board,
                     BoardTable,
                     Estimate,
                     FitTable,
                     add_board,
                     boards,
                     estimate,
                     fit_table,
                     get_board,
)
from .compress import CompressedTrees, Sweep, compress, compression_sweep
from .convert import convert
from .device.connect import connect, list_serial_ports
from .device.feature_report import FeatureCheck
from .device.report import DeployReport
from .device.transport import Device
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
from .export import CSize, c_size, export_c
from .glossary import glossary
from .labels import Label, LabelSet
from .nets.model import NetModel
from .recordings.load import load_recording
from .recordings.recording import Recording, RecordingInfo
from .training import class_report, cross_validate, group_cv, plot_confusion, search
from .trees.model import TreeModel
from .widgets import label
from .windowing import Windows, windows

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
