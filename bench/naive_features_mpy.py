# The "straightforward pure-MicroPython" baselines of bench_features.py, run on the device.
# What a MicroPython user would write first: per-sample loops over Python floats in a class,
# builtins where they fit (sorted, min, max), math.sqrt / math.log10. Not used by the package.
import math


class NaiveTimeStats:
    """Mean, std, min, max, median, quartiles, IQR, RMS, mean crossings per axis and of the
    magnitude, of an interleaved window (n_samples x n_channels)."""

    def __init__(self, n_samples, n_channels):
        self.n = n_samples
        self.c = n_channels

    def transform(self, window):
        n, c = self.n, self.c
        series = [[window[i * c + ch] for i in range(n)] for ch in range(c)]
        mag = []
        for i in range(n):
            s = 0.0
            for ch in range(c):
                v = series[ch][i]
                s += v * v
            mag.append(math.sqrt(s))
        out = []
        for s in series + [mag]:
            out.extend(self.stats(s))
        return out

    def stats(self, s):
        n = len(s)
        total = 0.0
        squares = 0.0
        for v in s:
            total += v
            squares += v * v
        mean = total / n
        std = math.sqrt(max(squares / n - mean * mean, 0.0))
        ordered = sorted(s)
        q1, median, q3 = (self.quantile(ordered, q) for q in (0.25, 0.5, 0.75))
        crossings = 0
        above = s[0] > mean
        for v in s:
            now = v > mean
            if now != above:
                crossings += 1
                above = now
        return [mean, std, ordered[0], ordered[-1], median, q1, q3, q3 - q1,
                math.sqrt(squares / n), crossings]

    @staticmethod
    def quantile(ordered, q):
        pos = q * (len(ordered) - 1)
        i = int(pos)
        if i + 1 >= len(ordered):
            return ordered[i]
        return ordered[i] + (pos - i) * (ordered[i + 1] - ordered[i])


class Biquad:
    """One second-order section, direct form I, float state."""

    def __init__(self, b0, b1, b2, a1, a2):
        self.b0, self.b1, self.b2, self.a1, self.a2 = b0, b1, b2, a1, a2
        self.reset()

    def reset(self):
        self.x1 = self.x2 = self.y1 = self.y2 = 0.0

    def process(self, x):
        y = (self.b0 * x + self.b1 * self.x1 + self.b2 * self.x2
             - self.a1 * self.y1 - self.a2 * self.y2)
        self.x2, self.x1 = self.x1, x
        self.y2, self.y1 = self.y1, y
        return y


class NaiveSoundLevel:
    """A-weighted level (dB full scale) of int16 samples: a cascade of Biquads per sample."""

    def __init__(self, sos):
        # scipy's layout: b0, b1, b2, a0 (= 1), a1, a2 per section
        self.sections = [Biquad(s[0], s[1], s[2], s[4], s[5]) for s in sos]

    def transform(self, samples):
        for section in self.sections:
            section.reset()
        acc = 0.0
        for x in samples:
            v = x / 32768
            for section in self.sections:
                v = section.process(v)
            acc += v * v
        return 10 * math.log10(acc / len(samples) + 1e-30)
