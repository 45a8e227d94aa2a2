"""The standalone device application: DeviceApp (sensor -> windows -> features -> model ->
post-processing -> actions), its post-processing (``eml.post``), actions (``eml.actions``) and
sensors (``eml.sensors``); install, run and remove it on a board (``dev.install``,
``dev.app_output``, ``dev.uninstall``)."""
from . import actions, post, sensors
from .device_app import AppRun, DeviceApp

__all__ = ["DeviceApp", "AppRun", "actions", "post", "sensors"]
