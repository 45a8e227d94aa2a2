"""Nearest neighbours (scikit-learn KNeighborsClassifier / KNeighborsRegressor): an exact host
reference, the examples file, and on-device learning (the device appends examples to a store)."""
from .model import KNNModel

__all__ = ["KNNModel"]
