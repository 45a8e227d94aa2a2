"""What an installed app printed, parsed: its events, windows, busy time and RAM."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..device_src.emlab_app import PREFIX
from ..exceptions import DeviceError
from .post import Event

__all__ = ["AppOutput", "parse_output"]


@dataclass
class AppOutput:
    """The output of a run of the installed app (``dev.app_output``).

    Attributes
    ----------
    events : list of Event
        The events it ended (``off`` lines), in order.
    n_windows : int
    busy_us : int
        Device time spent on the windows (moving samples, features, model, post-processing,
        actions), excluding the wait for the sensor. On the emulated boards 1 µs is 1 000
        instructions.
    app_ram_bytes : int
        Heap the loaded app holds (model, extractors, sensor, buffers).
    alloc_bytes : int
        Heap allocated while the windows ran (garbage the collector reclaims).
    lines : list of str
        Everything it printed.
    """

    events: list
    n_windows: int
    busy_us: int
    app_ram_bytes: int
    alloc_bytes: int
    samplerate_hz: float
    hop_samples: int
    lines: list = field(default_factory=list, repr=False)

    @property
    def signal_s(self) -> float:
        """Seconds of signal the windows covered (one hop each)."""
        return self.n_windows * self.hop_samples / self.samplerate_hz

    @property
    def duty_cycle(self) -> float:
        """Device time per second of signal (busy_us / signal length): below 1 the app
        keeps up in real time."""
        return self.busy_us / 1e6 / self.signal_s if self.n_windows else 0.0

    def __repr__(self) -> str:
        return (f"AppOutput({self.n_windows} windows, {len(self.events)} events, busy "
                f"{self.busy_us} µs (duty cycle {100 * self.duty_cycle:.3f}%), app RAM "
                f"{self.app_ram_bytes} B, {self.alloc_bytes} B allocated while running)")


def parse_output(lines: list, cfg: dict) -> AppOutput:
    """AppOutput from the app's lines and the installed configuration; DeviceError when
    the app did not get to its ready or done line (the lines are in the message)."""
    rate, n, hop = cfg["samplerate_hz"], cfg["window"], cfg["hop"]
    hop_s, window_s = hop / rate, n / rate
    events, ready, done = [], None, None
    for line in lines:
        parts = line.split()
        if len(parts) < 2 or parts[0] != PREFIX:
            continue
        if parts[1] == "ready" and len(parts) == 5:
            ready = int(parts[2])
        elif parts[1] == "done" and len(parts) == 5:
            done = tuple(int(v) for v in parts[2:])
        elif parts[1] == "off" and len(parts) >= 5:
            events.append(Event.of_windows(int(parts[2]), int(parts[3]),
                                           line.split(None, 4)[4], hop_s, window_s))
    if ready is None or done is None:
        tail = "\n".join(lines[-10:])
        raise DeviceError(f"the app did not run to its end on the board; it printed:\n{tail}")
    return AppOutput(events, done[0], done[1], ready, done[2], rate, hop, lines)
