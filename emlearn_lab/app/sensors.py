"""Sensors of an installed app (placeholder until the drivers land)."""
from ..device.record import PLAYBACK_PATH


class Playback:
    def __init__(self, realtime: bool = True, samplerate_hz=None):
        self.realtime = realtime
        self.samplerate_hz = samplerate_hz
        self.path = PLAYBACK_PATH
        self.modules = ()

    def device_expr(self) -> str:
        return f"emlab_sensor.PlaybackSensor({self.path!r}, {self.realtime!r})"

    def __repr__(self):
        return f"Playback(realtime={self.realtime})"
