"""Anomaly detectors: converted outlier estimators that decide inlier / outlier on a device."""
