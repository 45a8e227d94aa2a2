"""Does the installed app do on the board what the notebook simulated? ``dev.check_app``."""
from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import InputError
from .device_app import AppRun, DeviceApp
from .output import AppOutput

__all__ = ["AppCheck", "check_app"]


@dataclass
class AppCheck:
    """The simulated run and the board's run of the same recording.

    ``identical`` is True when the board ended the same events (first and end window, label)
    in the same order as :meth:`DeviceApp.simulate`."""

    simulated: AppRun
    device: AppOutput

    @property
    def identical(self) -> bool:
        return [e.key for e in self.simulated.events] == [e.key for e in self.device.events]

    def __repr__(self) -> str:
        verdict = "IDENTICAL" if self.identical else "DIFFERENT"
        return (f"AppCheck({verdict}: {len(self.device.events)} events on the board, "
                f"{len(self.simulated.events)} simulated, over {self.device.n_windows} windows; "
                f"board: {self.device!r})")

    def _repr_html_(self) -> str:
        from html import escape
        colour = "#1b5e20" if self.identical else "#b00020"
        return f"<pre style='color:{colour}'>{escape(repr(self))}</pre>"


def check_app(dev, app: DeviceApp, recording) -> AppCheck:
    """Play ``recording`` through the installed app's playback sensor, run the app over all of
    it (as fast as the board goes: ``realtime=False``) and compare its events with
    ``app.simulate(recording)``. The app must be installed (``dev.install(app)``) with a
    Playback sensor.

    Raises
    ------
    InputError
        Not a DeviceApp, a sensor other than Playback, or a recording the app cannot take.
    """
    from .sensors import Playback
    if not isinstance(app, DeviceApp):
        raise InputError(f"check_app takes an eml.DeviceApp, got {type(app).__name__}")
    if not isinstance(app.sensor, Playback):
        raise InputError(f"check_app plays a recording through the app, whose sensor is "
                         f"{app.sensor!r}: install the app with eml.sensors.Playback() to check "
                         "it, then install it with its real sensor")
    simulated = app.simulate(recording)
    dev.playback(recording)
    out = dev.app_output(windows=simulated.n_windows, realtime=False)
    return AppCheck(simulated, out)
