"""Ensembles recentred on an estimate (plain arrays, numpy or torch)."""

from __future__ import annotations

import math


def recentred_spread(samples):
    """``sqrt(n / (n - 1)) (u_k - mean u)`` over the first axis of ``samples`` (n >= 2 members).

    The sampler's spread about its own mean, scaled so that members added to an estimate
    ``x_hat`` (``x_k = x_hat + spread_k``) keep an unbiased variance, as an ensemble of
    variational analyses is recentred on its control analysis. Works on numpy arrays and
    torch tensors alike; the metrics read such members through the ``xda_members_recentred``
    attribute (:mod:`xda.metrics`).
    """
    n = samples.shape[0]
    return (samples - samples.mean(0)) * math.sqrt(n / (n - 1))
