"""Talking to MicroPython devices: virtual device, transport, deploy, reports."""
