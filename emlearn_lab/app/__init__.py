"""Standalone apps that run on a MicroPython board: sensor, windows, features, model, events."""
