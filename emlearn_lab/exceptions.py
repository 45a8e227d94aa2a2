"""The one exception hierarchy of emlearn_lab.

Every error inherits :class:`EmlearnLabError` and a builtin that describes it, so callers can
catch ``ValueError`` or ``OSError`` as they would for any library.
"""

__all__ = [
    "EmlearnLabError", "NotFittedError", "UnsupportedModelError", "InputError",
    "ModelFileError", "BuildError", "DeviceError", "DeviceNotFoundError", "DeviceBusyError",
    "DeviceDisconnectedError", "DeviceMemoryError", "DeviceRuntimeError",
    "DeviceTimeoutError", "DeviceStorageError", "RecordingError", "LabelError", "LabelFileMismatchError",
]


class EmlearnLabError(Exception):
    """Base class of every emlearn_lab error."""


class NotFittedError(EmlearnLabError, ValueError, AttributeError):
    """An estimator was passed before it was fitted."""


class UnsupportedModelError(EmlearnLabError, TypeError):
    """The estimator type or configuration cannot be converted."""


class InputError(EmlearnLabError, ValueError):
    """Input data has the wrong shape, dtype or contains NaN/inf."""


class ModelFileError(EmlearnLabError, ValueError):
    """A model file is corrupt, truncated or of an unknown version."""


class BuildError(EmlearnLabError, RuntimeError):
    """Compiling the device runtime (mpy-cross) failed."""


class DeviceError(EmlearnLabError, OSError):
    """Talking to a MicroPython device failed."""


class DeviceNotFoundError(DeviceError):
    """No device at the given port, or no device found by "auto"."""


class DeviceBusyError(DeviceError):
    """The serial port is open in another program."""


class DeviceDisconnectedError(DeviceError):
    """The device went away during an operation. Reconnect and retry: deploys are idempotent."""


class BrowserLinkError(DeviceError):
    """The notebook page cannot carry a board's bytes (eml.connect_browser): no Web Serial in
    the browser, or a front end / kernel that cannot deliver messages while a cell runs."""


class DeviceMemoryError(DeviceError, MemoryError):
    """The device ran out of heap (its MemoryError, with the sizes involved)."""


class DeviceRuntimeError(DeviceError):
    """Code on the device raised an exception; the message carries the device traceback."""


class DeviceTimeoutError(DeviceError, TimeoutError):
    """The device did not finish a call in time (still running or hung); the host interrupted
    or restarted it, and the message says which."""


class DeviceStorageError(DeviceError):
    """The device's filesystem has no room for what would be sent."""


class RecordingError(EmlearnLabError, ValueError):
    """A recording file is corrupt, truncated, or cannot be placed on a time axis."""


class LabelError(EmlearnLabError, ValueError):
    """A label interval is invalid (outside the recording, inverted, overlapping, unknown class)
    or a label file cannot be read."""


class LabelFileMismatchError(LabelError):
    """A label file was made for another recording (length, sample rate or content differ)."""
