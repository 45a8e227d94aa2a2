"""Gaussian detectors: GaussianMixture, BayesianGaussianMixture and EllipticEnvelope as
anomaly detectors (GaussModel), exact in float32 on host and device."""
