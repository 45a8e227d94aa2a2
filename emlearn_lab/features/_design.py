"""Host-side design of the audio extractors' integer tables: the A-weighting filter as
device sections (emlfx_iir), the Hann window and the FFT band / mel filter tables
(emlfx_spectral). Floats live here only; the device receives integers."""
import math

import numpy as np

__all__ = ["a_weighting_sos", "iir_params", "hann_q15", "band_table", "linear_bands",
           "mel_bands", "hz_to_mel", "mel_to_hz"]

# IEC 61672-1 A-weighting: the analog poles (Hz); four zeros at s = 0.
A_POLES_HZ = (20.598997, 20.598997, 107.65265, 737.86223, 12194.217, 12194.217)
_PEAK_L1 = 3.5          # worst-case gain allowed up to any section: 3.5 * 2**25 < 2**27
Q15 = 1 << 15


def a_weighting_sos(samplerate_hz: float) -> np.ndarray:
    """The digital A-weighting filter as second-order sections (float64, scipy layout):
    the analog zpk through the bilinear transform, 0 dB at 1 kHz."""
    from scipy import signal  # ~1 s to import: only SoundLevel's design needs it
    poles = [-2 * math.pi * f for f in A_POLES_HZ]
    z, p, k = signal.bilinear_zpk([0.0] * 4, poles, 1.0, samplerate_hz)
    sos = signal.zpk2sos(z, p, k)
    _, h = signal.sosfreqz(sos, worN=[1000.0], fs=samplerate_hz)
    sos[0, :3] /= abs(h[0])
    return sos


def _impulse_l1(sections, n: int) -> float:
    from scipy import signal
    x = np.zeros(n)
    x[0] = 1.0
    return float(np.abs(signal.sosfilt(np.asarray(sections, float), x)).sum())


def iir_params(sos: np.ndarray) -> dict:
    """emlfx_iir.SoundLevel's 'sections' and 'gain_q12' for sos, whose zeros must all be at
    z = +1 or -1 (so that each numerator is gain * [1, b1, b2] with integer b1, b2).

    Sections run with the poles closest to the unit circle first (their rounding noise is
    then shaped by the next sections' zeros), each numerator shifted right just enough that
    the worst-case gain (L1 norm of the impulse response) from the input to any section's
    output stays at most 3.5: full scale then fits the device's 27-bit words."""
    rows, gain = [], 1.0
    for b0, b1, b2, a0, a1, a2 in np.asarray(sos, float):
        num = np.array([b1, b2]) / b0
        if not np.allclose(num, np.round(num), atol=1e-9) or a0 != 1.0:
            raise ValueError(f"section numerator {[b0, b1, b2]} is not gain * [1, b1, b2] "
                             "with integer b1, b2 (zeros at z = +-1)")
        gain *= b0
        rows.append([1.0, *np.round(num), 1.0, a1, a2])
    radius = [max(abs(np.roots(r[3:]))) for r in rows]
    rows = [rows[i] for i in np.argsort(radius)[::-1]]
    # Long enough for the slowest pole to decay below 1e-9 of its start.
    n = int(min(2 ** 21, 25 / max(1e-6, 1 - max(radius)))) + 64
    shifts = []
    for i, r in enumerate(rows):
        shift = 0
        while _impulse_l1([*rows[:i], r], n) / 2.0 ** (sum(shifts) + shift) > _PEAK_L1:
            shift += 1
        if shift > 7:
            raise ValueError(f"section {i} needs a numerator shift of {shift} (at most 7)")
        shifts.append(shift)
    sections = []
    for r, shift in zip(rows, shifts):
        a1, a2 = (round(v * 2 ** 28) for v in r[4:])
        sections += [int(r[1]), int(r[2]), shift, int(a1), int(a2)]
    total = abs(gain) * 2.0 ** sum(shifts)
    return {"sections": sections, "gain_q12": round(4096 * 2 * math.log2(total))}


def hann_q15(n_fft: int) -> list:
    """The periodic Hann window in Q15, round(32768 * w) capped at 32767 (x * w must stay
    below 2**30 on the device)."""
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return np.minimum(np.round(w * Q15), Q15 - 1).astype(int).tolist()


def band_table(weights: np.ndarray) -> dict:
    """emlfx_spectral's 'bands' and 'weights' for a (n_bands, n_fft // 2 + 1) matrix of
    weights in [0, 1]: per band the span from its first to its last non-zero Q15 weight.
    Raises ValueError naming the first band without any."""
    q = np.round(np.clip(weights, 0.0, 1.0) * Q15).astype(int)
    bands, flat = [], []
    for b, row in enumerate(q):
        nz = np.flatnonzero(row)
        if not len(nz):
            raise ValueError(b)
        bands += [int(nz[0]), int(nz[-1] - nz[0] + 1)]
        flat += row[nz[0]:nz[-1] + 1].tolist()
    return {"bands": bands, "weights": flat}


def linear_bands(n_bands: int, fmin_hz: float, fmax_hz: float, samplerate_hz: float,
                 n_fft: int) -> np.ndarray:
    """Rectangular bands of equal width: bin k (at k * samplerate_hz / n_fft) belongs to
    band b when edge[b] <= f < edge[b + 1], the last band including fmax_hz."""
    f = np.arange(n_fft // 2 + 1) * samplerate_hz / n_fft
    edges = np.linspace(fmin_hz, fmax_hz, n_bands + 1)
    w = np.zeros((n_bands, len(f)))
    for b in range(n_bands):
        hi = f <= edges[b + 1] if b == n_bands - 1 else f < edges[b + 1]
        w[b] = (f >= edges[b]) & hi
    return w


def hz_to_mel(f):
    """HTK mel scale: 2595 * log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, float) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, float) / 2595.0) - 1.0)


def mel_bands(n_mels: int, fmin_hz: float, fmax_hz: float, samplerate_hz: float,
              n_fft: int) -> np.ndarray:
    """Triangular HTK mel filters (peak weight 1, no area normalisation): n_mels + 2 points
    equally spaced in mel from fmin_hz to fmax_hz; filter b rises from point b to b + 1 and
    falls to b + 2: w = max(0, min((f - f_b) / (f_b+1 - f_b), (f_b+2 - f) / (f_b+2 - f_b+1)))."""
    f = np.arange(n_fft // 2 + 1) * samplerate_hz / n_fft
    pts = mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_mels + 2))
    w = np.zeros((n_mels, len(f)))
    for b in range(n_mels):
        lo, mid, hi = pts[b:b + 3]
        w[b] = np.maximum(0.0, np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
    return w
