"""Recordings: samples on a time axis, and the loaders for CSV, NumPy, WAV and FLAC files."""
