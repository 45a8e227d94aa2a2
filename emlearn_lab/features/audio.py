"""Audio features: sound level (A-weighted), FFT band energies and log-mel energies.

Computed in integers by ``device_src/emlfx_iir.py`` and ``device_src/emlfx_spectral.py``, the
same sources on the host and on the device, so both give identical features. Every feature
is a level in centi-decibels (1/100 dB; divide by 100 for dB), relative to full scale:
32768 for int16 windows, 1.0 for float windows. Silence reads -15000 (-150 dB), which is
also the lowest value.

Accuracy against float64 references (tests/test_features_audio.py), for tones and noise
from -6 to -60 dBFS: SoundLevel within 0.015 dB of scipy's sosfilt at 4..192 kHz;
FFTBands / LogMel within 0.02 dB of numpy's FFT for bands within 20 dB of a frame's
strongest band, 0.1 dB within 40 dB. The 0.01 dB floor to centi-dB is included.
"""
import numbers

import numpy as np

from ..device_src.emlfx_spectral import MAX_BANDS, POOLS
from ..exceptions import InputError
from . import _design
from ._design import a_weighting_sos
from .base import Extractor

__all__ = ["SoundLevel", "FFTBands", "LogMel", "a_weighting_sos"]


def _number(value, name: str, who: str, lo: float, hi: float, what: str = "a number") -> float:
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not lo <= value <= hi):
        raise InputError(f"The {name!r} parameter of {who} must be {what} in [{lo:g}, {hi:g}], "
                         f"got {value!r}")
    return float(value)


def _int(value, name: str, who: str, lo: int, hi: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not lo <= value <= hi:
        raise InputError(f"The {name!r} parameter of {who} must be an int in [{lo}, {hi}], "
                         f"got {value!r}")
    return int(value)


def _n_fft(value, who: str) -> int:
    ok = (isinstance(value, numbers.Integral) and not isinstance(value, bool)
          and 16 <= value <= 4096 and not value & (value - 1))
    if not ok:
        raise InputError(f"The 'n_fft' parameter of {who} must be a power of two in "
                         f"[16, 4096], got {value!r}")
    return int(value)


class SoundLevel(Extractor):
    """Sound level of each channel: 10 * log10(mean(y**2)) of the window after the
    weighting filter, in centi-dB re full scale (a full-scale sine reads -301).

    The A-weighting filter (IEC 61672: four zeros at 0 Hz, poles at 20.6 Hz (x2), 107.7 Hz,
    737.9 Hz, 12194 Hz (x2), bilinear transform, 0 dB at 1 kHz; ``sos_``) runs on the device
    in 32-bit fixed point (three second-order sections, Q28 coefficients, 10 fraction bits,
    error feedback), started from rest in every window: the first ~50 ms include the
    filter's settling, as ``scipy.signal.sosfilt(sos_, window)`` would. Against that float64
    reference, levels agree within 0.015 dB (the 0.01 dB floor included) at 4..192 kHz, for
    tones and noise down to -60 dBFS (e.g. a 100 Hz tone at -60 dBFS: -82 dBA).

    Parameters
    ----------
    weighting : {"A", "Z"}
        "A": A-weighted, "Z": unweighted (no filter).
    samplerate_hz : float, optional
        The windows' sample rate (4000..192000 for "A"); default: that of the
        eml.windows() given to fit.

    Attributes
    ----------
    sos_ : ndarray of shape (3, 6) or None
        The float A-weighting filter the integer one implements (None for "Z").

    Examples
    --------
    >>> fx = SoundLevel("A").fit(win)                                   # doctest: +SKIP
    >>> fx.transform(win.X)[:2] / 100              # dB(A) re full scale # doctest: +SKIP
    """
    _module = "emlfx_iir"
    _class = "SoundLevel"

    def __init__(self, weighting="A", samplerate_hz=None):
        self.weighting = weighting
        self.samplerate_hz = samplerate_hz

    def _params(self, n_samples, n_channels):
        if self.weighting not in ("A", "Z"):
            raise InputError(f"The 'weighting' parameter of SoundLevel must be 'A' or 'Z', "
                             f"got {self.weighting!r}")
        self.sos_ = None
        if self.weighting == "Z":
            return {"sections": [], "gain_q12": 0}
        rate = _number(self._samplerate_hz(), "samplerate_hz", "SoundLevel(weighting='A')",
                       4000, 192000)
        self.sos_ = a_weighting_sos(rate)
        return _design.iir_params(self.sos_)

    def _names(self):
        return [f"ch{c}_level_dB{self.weighting}" for c in range(self.n_channels_)]


class _Spectral(Extractor):
    """Shared by FFTBands and LogMel: frames, Hann window, band table, pooling."""
    _module = "emlfx_spectral"
    _class = "Spectral"
    _band = ""

    def _bands(self, rate: float, n_fft: int, fmin: float, fmax: float) -> np.ndarray:
        raise NotImplementedError

    def _frames(self, n_samples: int, rate: float) -> tuple:
        raise NotImplementedError

    def _params(self, n_samples, n_channels):
        who = type(self).__name__
        if self.pool not in POOLS:
            raise InputError(f"The 'pool' parameter of {who} must be 'none', 'mean' or 'max', "
                             f"got {self.pool!r}")
        rate = self._samplerate_hz()
        n_fft, hop, n_frames = self._frames(n_samples, rate)
        nyquist = rate / 2
        fmin = _number(self.fmin_hz, "fmin_hz", who, 0.0, nyquist)
        fmax = nyquist if self.fmax_hz is None else self.fmax_hz
        if not isinstance(fmax, numbers.Real) or not fmin < fmax <= nyquist:
            raise InputError(f"The 'fmax_hz' parameter of {who} must be above fmin_hz and at "
                             f"most samplerate_hz / 2 ({fmin:g} < fmax_hz <= {nyquist:g}), "
                             f"got {self.fmax_hz!r}")
        weights = self._bands(rate, n_fft, fmin, float(fmax))
        try:
            table = _design.band_table(weights)
        except ValueError as e:
            b = e.args[0]
            raise InputError(
                f"{who}: {self._band} band {b} holds no FFT bin (bins are "
                f"{rate / n_fft:g} Hz apart with n_fft={n_fft}): use fewer bands, a larger "
                "n_fft or a wider fmin_hz..fmax_hz") from None
        self.n_frames_ = n_frames
        self.n_bands_ = len(weights)
        return {"n_fft": n_fft, "hop": hop, "n_frames": n_frames,
                "hann": _design.hann_q15(n_fft), "pool": POOLS.index(self.pool), **table}

    def _short(self, n_samples: int, n_fft: int, rate: float) -> None:
        if n_samples < n_fft:
            raise InputError(
                f"{type(self).__name__}(n_fft={n_fft}) needs windows of at least {n_fft} "
                f"samples, got {n_samples}: use a longer window_s (at least "
                f"{n_fft / rate:g} s at {rate:g} Hz) or a smaller n_fft")

    def _names(self):
        band = self._band
        if self.pool != "none":
            return [f"ch{c}_{band}{b}" for c in range(self.n_channels_)
                    for b in range(self.n_bands_)]
        return [f"ch{c}_f{f}_{band}{b}" for c in range(self.n_channels_)
                for f in range(self.n_frames_) for b in range(self.n_bands_)]


class FFTBands(_Spectral):
    """Energy in equal-width frequency bands of the window's spectrum, in centi-dB.

    Each frame is Hann-windowed and transformed by a fixed-point FFT on the device
    (``device_src/emlfx_spectral.py``); a band sums the power of the FFT bins whose
    frequency lies in [edge_b, edge_b+1) (the last band includes fmax_hz). 0 dB is a
    full-scale sine inside one band. Against a float64 FFT with the same tables, bands above
    -60 dB agree within 0.02 dB when within 20 dB of the frame's strongest band, within
    0.1 dB when within 40 dB; further down, the error floor of the 16-bit block-floating-point
    FFT (about 80 dB below the strongest bin) dominates.

    Parameters
    ----------
    n_bands : int
        Number of bands (1..256).
    fmin_hz, fmax_hz : float
        Frequency range of the bands; fmax_hz None: samplerate_hz / 2.
    n_fft : int, optional
        FFT size, a power of two in [16, 4096]. None: the smallest power of two holding the
        window (zero-padded, one frame), at most 4096 (longer windows: frames hop_s apart).
    hop_s : float, optional
        Frame hop in seconds; None: n_fft / 2 samples.
    pool : {"mean", "max", "none"}
        Combine the frames' levels: floored mean, max, or "none" (every frame's bands).
    samplerate_hz : float, optional
        Default: that of the eml.windows() given to fit.

    Examples
    --------
    >>> fx = FFTBands(n_bands=8).fit(win)                                 # doctest: +SKIP
    >>> fx.get_feature_names_out()[:2]                                    # doctest: +SKIP
    array(['ch0_band0', 'ch0_band1'], dtype=object)
    """
    _band = "band"

    def __init__(self, n_bands=8, fmin_hz=0.0, fmax_hz=None, n_fft=None, hop_s=None,
                 pool="mean", samplerate_hz=None):
        self.n_bands = n_bands
        self.fmin_hz = fmin_hz
        self.fmax_hz = fmax_hz
        self.n_fft = n_fft
        self.hop_s = hop_s
        self.pool = pool
        self.samplerate_hz = samplerate_hz

    def _frames(self, n_samples, rate):
        if self.n_fft is None:
            n_fft = max(16, min(4096, 1 << (n_samples - 1).bit_length()))
        else:
            n_fft = _n_fft(self.n_fft, "FFTBands")
            self._short(n_samples, n_fft, rate)
        if self.hop_s is None:
            hop = max(1, n_fft // 2)
        else:
            hop_s = _number(self.hop_s, "hop_s", "FFTBands", 1 / rate, 16384 / rate)
            hop = max(1, round(hop_s * rate))
        n_frames = 1 if n_samples <= n_fft else 1 + (n_samples - n_fft) // hop
        self.n_fft_, self.hop_ = n_fft, hop
        return n_fft, hop, n_frames

    def _bands(self, rate, n_fft, fmin, fmax):
        n = _int(self.n_bands, "n_bands", "FFTBands", 1, MAX_BANDS)
        return _design.linear_bands(n, fmin, fmax, rate, n_fft)


class LogMel(_Spectral):
    """Log mel-band energies of the window's frames (a log-mel spectrogram), in centi-dB.

    Frames of n_fft samples hop_length apart (no padding: the window must hold at least one
    frame) are Hann-windowed and transformed by a fixed-point FFT on the device; each mel
    band sums the bins' power weighted by a triangular HTK mel filter: mel(f) = 2595 *
    log10(1 + f / 700), n_mels + 2 points equally spaced in mel from fmin_hz to fmax_hz,
    filter b rising from point b to a peak of 1 at point b + 1 and falling to point b + 2
    (no area normalisation: a full-scale sine at a filter's peak reads 0 dB). Accuracy as
    for FFTBands: against a float64 FFT, within 0.02 dB for bands within 20 dB of the
    frame's strongest band, within 0.1 dB within 40 dB (bands above -60 dB).

    Parameters
    ----------
    n_mels : int
        Number of mel bands (1..256).
    n_fft : int
        FFT size, a power of two in [16, 4096].
    hop_length : int, optional
        Samples between frames; None: n_fft // 2.
    fmin_hz, fmax_hz : float
        Frequency range; fmax_hz None: samplerate_hz / 2.
    pool : {"none", "mean", "max"}
        "none": every frame's bands (features ch{c}_f{frame}_mel{b}, frame-major); "mean"
        (floored) or "max" over the frames (features ch{c}_mel{b}).
    samplerate_hz : float, optional
        Default: that of the eml.windows() given to fit.

    Examples
    --------
    >>> fx = LogMel(n_mels=32, n_fft=512, pool="mean").fit(win)          # doctest: +SKIP
    >>> fx.transform(win.X).shape                                        # doctest: +SKIP
    (120, 32)
    """
    _band = "mel"

    def __init__(self, n_mels=32, n_fft=512, hop_length=None, fmin_hz=0.0, fmax_hz=None,
                 pool="none", samplerate_hz=None):
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin_hz = fmin_hz
        self.fmax_hz = fmax_hz
        self.pool = pool
        self.samplerate_hz = samplerate_hz

    def _frames(self, n_samples, rate):
        n_fft = _n_fft(self.n_fft, "LogMel")
        hop = n_fft // 2 if self.hop_length is None else _int(
            self.hop_length, "hop_length", "LogMel", 1, 16384)
        self._short(n_samples, n_fft, rate)
        return n_fft, hop, 1 + (n_samples - n_fft) // hop

    def _bands(self, rate, n_fft, fmin, fmax):
        n = _int(self.n_mels, "n_mels", "LogMel", 1, MAX_BANDS)
        return _design.mel_bands(n, fmin, fmax, rate, n_fft)
