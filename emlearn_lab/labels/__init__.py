"""Labelled time intervals of a recording, and the label files they are read from and saved to."""
from .labelset import Label, LabelSet

__all__ = ["LabelSet", "Label"]
