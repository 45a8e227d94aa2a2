"""What the label widget draws, computed in Python for the visible time range only.

A tile is one redraw's worth of data: per channel either the raw samples (zoomed in) or a
(min, max) pair per pixel column (zoomed out), plus for audio a spectrogram as uint8 dB
levels. Everything is little-endian bytes, and a tile never exceeds ``MAX_TILE_BYTES`` however
long the recording or wide the view: the column count shrinks to fit the budget.

Min/max per column comes from a pyramid of block minima/maxima (blocks of 4**k samples), so a
request costs O(columns × 4) whatever the zoom level, not O(samples in view).
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["MAX_TILE_BYTES", "Pyramid", "Spectrogram", "overview", "tile"]

MAX_TILE_BYTES = 64_000
_BLOCK_FACTOR = 4
_SPEC_BANDS = 64
_SPEC_FLOOR_DB = -100.0           # uint8 0 ↔ -100 dB full scale, 255 ↔ 0 dBFS


class Pyramid:
    """Block minima and maxima of each channel at block sizes 4, 16, 64, ... samples.

    NaN samples are gaps: a block's min/max ignore them, and an all-NaN block is NaN (drawn
    as a gap, never as a line through zero).
    """

    def __init__(self, data: np.ndarray):
        x = np.asarray(data, dtype=np.float32)
        self.n_samples = x.shape[0]
        self.samples = x                      # float32 (n_samples, channels), shared
        self.levels = [(1, x, x)]            # (block size, mins, maxs), each (n_blocks, ch)
        # Integer samples have no NaN: plain min/max are several times faster than nanmin.
        lo, hi = (np.nanmin, np.nanmax) if data.dtype.kind == "f" else (np.min, np.max)
        mins = maxs = x
        block = 1
        while mins.shape[0] > 256:
            n = mins.shape[0]
            pad = (-n) % _BLOCK_FACTOR
            if pad:       # repeat the last sample: neither a new extreme nor a false gap
                mins = np.concatenate([mins, np.repeat(mins[-1:], pad, axis=0)])
                maxs = np.concatenate([maxs, np.repeat(maxs[-1:], pad, axis=0)])
            shape = (-1, _BLOCK_FACTOR, x.shape[1])
            with warnings.catch_warnings():           # all-NaN blocks: NaN, no warning
                warnings.simplefilter("ignore", RuntimeWarning)
                mins = lo(mins.reshape(shape), axis=1)
                maxs = hi(maxs.reshape(shape), axis=1)
            block *= _BLOCK_FACTOR
            self.levels.append((block, mins, maxs))

    def minmax(self, i0: int, i1: int, n_cols: int) -> np.ndarray:
        """(n_cols, channels, 2) float32 min/max of samples [i0, i1) split into n_cols equal
        column spans. Each column covers all of its own samples; block edges may add samples
        of the neighbour columns, less than a quarter of a column's width."""
        per_col = (i1 - i0) / n_cols
        block, mins, maxs = self.levels[0]
        for level in self.levels:
            if level[0] <= per_col / 4:
                block, mins, maxs = level
        # Column j holds samples [ceil(e_j), ceil(e_j+1)); its blocks run from the one holding
        # its first sample through the one holding its last, which the next column starts with.
        first = np.ceil(i0 + np.arange(n_cols) * per_col).astype(np.int64)
        starts = np.minimum(first // block, mins.shape[0] - 1)
        stop = min(-(-i1 // block), mins.shape[0])
        lo = _reduce_at(np.fmin, mins, starts, stop)
        hi = _reduce_at(np.fmax, maxs, starts, stop)
        lo[:-1] = np.fmin(lo[:-1], mins[starts[1:]])
        hi[:-1] = np.fmax(hi[:-1], maxs[starts[1:]])
        return np.stack([lo, hi], axis=-1)


def _reduce_at(ufunc, values: np.ndarray, starts: np.ndarray, stop: int) -> np.ndarray:
    """ufunc over values[starts[j]:starts[j+1]] (the last up to stop); a run of one block when
    two columns start in the same block."""
    seg = values[: max(stop, int(starts[-1]) + 1)]
    return ufunc.reduceat(seg, starts, axis=0)


class Spectrogram:
    """Log-power spectrogram of a mono mix in ``_SPEC_BANDS`` mel-spaced bands, as uint8.

    Zoomed out, each column takes the maximum of precomputed frames (hop chosen so the whole
    recording is at most ~20 000 frames, computed once in chunks); zoomed in, frames are
    computed directly at the column centres.
    """

    def __init__(self, samples: np.ndarray, samplerate_hz: float, full_scale: float | None):
        mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1,
                                                                          dtype=np.float32)
        if samples.dtype.kind == "f" and np.isnan(mono).any():
            mono = np.nan_to_num(mono, nan=0.0)
        self.signal = mono                    # float32; scaled to full scale per frame
        self.scale = 1.0 / full_scale if full_scale else 1.0
        self.samplerate_hz = samplerate_hz
        self.n_fft = int(2 ** np.clip(np.round(np.log2(samplerate_hz * 0.032)), 6, 11))
        self.window = np.hanning(self.n_fft).astype(np.float32) * np.float32(self.scale)
        self.bands = _mel_matrix(self.n_fft, samplerate_hz, _SPEC_BANDS)
        self.n_bands = self.bands.shape[0]
        freqs_hz = np.fft.rfftfreq(self.n_fft, 1.0 / samplerate_hz)
        # each band's centre of mass, Hz: what the frequency axis beside the picture reads
        self.band_hz = (self.bands @ freqs_hz) / self.bands.sum(axis=1)
        self.hop = max(self.n_fft // 4, -(-len(self.signal) // 20_000))
        self._frames = None

    def _levels(self, centres: np.ndarray) -> np.ndarray:
        """uint8 band levels of frames centred at the given sample indices."""
        idx = (centres.astype(np.int64)[:, None] - self.n_fft // 2 +
               np.arange(self.n_fft)[None, :])
        inside = (idx >= 0) & (idx < len(self.signal))        # zeros beyond either end
        frames = np.where(inside, self.signal[np.clip(idx, 0, len(self.signal) - 1)], 0.0)
        frames = frames.astype(np.float32) * self.window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        power *= 4.0 / (float(self.window.sum()) / self.scale) ** 2   # full-scale sine ~0 dB
        db = 10.0 * np.log10(power @ self.bands.T + 1e-12)
        return np.clip((db - _SPEC_FLOOR_DB) * (255.0 / -_SPEC_FLOOR_DB), 0, 255).astype(
            np.uint8)

    def _all_frames(self) -> np.ndarray:
        if self._frames is None:
            centres = np.arange(0, len(self.signal), self.hop)
            chunks = [self._levels(centres[i:i + 2048]) for i in range(0, len(centres), 2048)]
            self._frames = np.concatenate(chunks)
        return self._frames

    def columns(self, i0: int, i1: int, n_cols: int) -> np.ndarray:
        """(n_cols, n_bands) uint8 for samples [i0, i1)."""
        per_col = (i1 - i0) / n_cols
        if per_col < 2 * self.hop:
            return self._levels(i0 + (np.arange(n_cols) + 0.5) * per_col)
        frames = self._all_frames()
        starts = np.minimum((i0 + np.arange(n_cols) * per_col) // self.hop,
                            len(frames) - 1).astype(np.int64)
        return np.maximum.reduceat(frames[: max(-(-i1 // self.hop), starts[-1] + 1)],
                                   starts, axis=0)


def _mel_matrix(n_fft: int, samplerate_hz: float, n_bands: int) -> np.ndarray:
    """Triangular mel filters (n_bands, n_fft // 2 + 1), peak 1; fewer bands when the FFT is
    too coarse to separate them (empty filters are dropped)."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)
    edges_mel = np.linspace(mel(0.0), mel(samplerate_hz / 2), n_bands + 2)
    edges_hz = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / samplerate_hz)
    rows = []
    for lo, mid, hi in zip(edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]):
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        row = np.maximum(0.0, np.minimum(up, down))
        if row.sum() == 0:            # narrower than one FFT bin: take the nearest bin
            row[np.argmin(np.abs(freqs - mid))] = 1.0
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def tile(pyramid: Pyramid, spectrogram: Spectrogram | None, samplerate_hz: float,
         start_s: float, end_s: float, width_px: int) -> tuple[dict, list]:
    """Header and buffers for one redraw of ``[start_s, end_s)`` on ``width_px`` columns.

    Returns
    -------
    header : dict
        ``mode`` ("samples" or "minmax"), ``i0``, ``i1`` (sample range), ``n_cols``,
        ``n_channels``, and for audio ``spec_cols``, ``spec_bands``; ``bytes`` in total.
    buffers : list of bytes
        float32 LE samples (n_cols, channels) or min/max (n_cols, channels, 2); then for audio
        uint8 (spec_cols, spec_bands).
    """
    n = pyramid.n_samples
    n_ch = pyramid.levels[0][1].shape[1]
    i0 = int(np.clip(np.floor(start_s * samplerate_hz), 0, n - 1))
    i1 = int(np.clip(np.ceil(end_s * samplerate_hz) + 1, i0 + 1, n))
    width = int(np.clip(width_px, 16, 4096))
    spec_cols = 0
    if spectrogram is not None:
        spec_cols = min(width // 2, 512)
    budget = MAX_TILE_BYTES - spec_cols * (spectrogram.n_bands if spectrogram else 0)
    max_cols = max(1, budget // (8 * n_ch))
    header = {"i0": i0, "i1": i1, "n_channels": n_ch}
    if i1 - i0 <= min(width, 2 * max_cols):
        raw = np.asarray(pyramid.levels[0][1][i0:i1], dtype="<f4")
        header.update(mode="samples", n_cols=i1 - i0)
        buffers = [raw.tobytes()]
    else:
        n_cols = min(width, max_cols)
        mm = pyramid.minmax(i0, i1, n_cols).astype("<f4")
        header.update(mode="minmax", n_cols=n_cols)
        buffers = [mm.tobytes()]
    if spectrogram is not None:
        spec_cols = min(spec_cols, i1 - i0)
        levels = spectrogram.columns(i0, i1, spec_cols)
        header.update(spec_cols=spec_cols, spec_bands=spectrogram.n_bands)
        buffers.append(np.ascontiguousarray(levels).tobytes())
    header["bytes"] = sum(len(b) for b in buffers)
    return header, buffers


def overview(pyramid: Pyramid, n_cols: int = 600) -> tuple[int, bytes]:
    """Whole-recording min/max envelope for the overview strip: (n_cols, float32 LE bytes)."""
    n_cols = int(min(n_cols, pyramid.n_samples))
    return n_cols, pyramid.minmax(0, pyramid.n_samples, n_cols).astype("<f4").tobytes()
