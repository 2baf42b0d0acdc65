"""Plain-numpy references for the stencils of :mod:`xda.numerics.stencils` and the correlation kernels of
:mod:`xda.numerics.correlations`.

The same discretisation written with whole-array operations on an ascending global
grid (periodic longitude, pole faces closed). Slow and memory-hungry by design: tests
check the numba kernels against these, and ``benchmarks/`` times them as the baseline
in the same run. Fields are (..., ny, nx) in SI units; times in seconds.
"""

from __future__ import annotations

import numpy as np

from .constants import EARTH_RADIUS as A


def _metrics(lat, lon):
    phi = np.deg2rad(lat)[:, None]
    dx = A * np.cos(phi) * np.deg2rad(lon[1] - lon[0])
    return phi, dx, A * np.deg2rad(lat)


def gradient(c, lat, lon):
    """(dc/dx, dc/dy): centred, one-sided first differences on the edge rows."""
    _, dx, y = _metrics(lat, lon)
    gx = (np.roll(c, -1, -1) - np.roll(c, 1, -1)) / (2 * dx)
    gy = np.empty_like(c)
    gy[..., 1:-1, :] = (c[..., 2:, :] - c[..., :-2, :]) / (y[2:] - y[:-2])[:, None]
    gy[..., 0, :] = (c[..., 1, :] - c[..., 0, :]) / (y[1] - y[0])
    gy[..., -1, :] = (c[..., -1, :] - c[..., -2, :]) / (y[-1] - y[-2])
    return gx, gy


def laplacian(c, lat, lon):
    """Flux-form spherical laplacian with zero meridional flux through the poles."""
    phi, dx, y = _metrics(lat, lon)
    zonal = (np.roll(c, -1, -1) - 2 * c + np.roll(c, 1, -1)) / dx**2
    yf = np.concatenate([[-A * np.pi / 2], 0.5 * (y[1:] + y[:-1]), [A * np.pi / 2]])
    cf = np.cos(yf / A)
    cf[[0, -1]] = 0
    flux = np.zeros(c.shape[:-2] + (lat.size + 1, lon.size))
    flux[..., 1:-1, :] = cf[1:-1, None] * (c[..., 1:, :] - c[..., :-1, :]) / (y[1:] - y[:-1])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return zonal + (flux[..., 1:, :] - flux[..., :-1, :]) / (np.cos(phi) * (yf[1:] - yf[:-1])[:, None])


def advection(c, u, v, lat, lon):
    """``u dc/dx + v dc/dy``."""
    gx, gy = gradient(c, lat, lon)
    return u * gx + v * gy


def tendency(c, t):
    """Centred time difference over two intervals, one-sided at the ends (time axis first)."""
    dcdt = np.empty_like(c)
    dcdt[1:-1] = (c[2:] - c[:-2]) / (t[2:] - t[:-2])[:, None, None]
    dcdt[0] = (c[1] - c[0]) / (t[1] - t[0])
    dcdt[-1] = (c[-1] - c[-2]) / (t[-1] - t[-2])
    return dcdt


def advection_diffusion_residual(c, u, v, kappa, t, lat, lon):
    """``dc/dt + u.grad(c) - kappa lap(c)`` for (nt, ny, nx)."""
    return tendency(c, t) + advection(c, u, v, lat, lon) - kappa * laplacian(c, lat, lon)


# ----------------------------------------------------------------------------- correlations (xda.numerics.correlations)

def correlation(r: np.ndarray, length_scale: float, kind: str = "soar") -> np.ndarray:
    """:func:`xda.numerics.correlations.correlation` (the families and their sources are there) in whole-array
    passes, worked in place."""
    if kind not in ("soar", "gaussian", "matern52"):
        raise ValueError(f"unknown correlation {kind!r}; use 'soar', 'matern52' or 'gaussian'")
    # one array of our own and one exponential, worked in place: a grid's correlations with a thousand
    # observations are tens of MB, and each further temporary costs its page faults
    x = np.asarray(r) / (length_scale / (np.sqrt(5.0) if kind == "matern52" else 1.0))
    if kind == "gaussian":
        x *= x
        x *= -0.5
        return np.exp(x, out=x)
    ex = np.negative(x)
    np.exp(ex, out=ex)
    if kind == "matern52":
        poly = x * x
        poly /= 3.0
        poly += x
        poly += 1.0
        ex *= poly
        return ex
    x += 1.0
    x *= ex
    return x


def correlation_dlogl(r: np.ndarray, length_scale: float, kind: str = "soar") -> np.ndarray:
    """``d rho / d log L`` of :func:`correlation` at distance ``r`` (m): the derivative the gradient of a
    likelihood in ``L`` needs (``-x rho'(x)`` with ``x = r / L``); one array of its own, worked in place."""
    if kind not in ("soar", "gaussian", "matern52"):
        raise ValueError(f"unknown correlation {kind!r}; use 'soar', 'matern52' or 'gaussian'")
    x = np.asarray(r) / (length_scale / (np.sqrt(5.0) if kind == "matern52" else 1.0))
    ex = np.multiply(x, x if kind == "gaussian" else 1.0)
    ex *= -0.5 if kind == "gaussian" else -1.0
    np.exp(ex, out=ex)  # exp(-x^2 / 2) or exp(-x)
    if kind == "matern52":
        ex *= 1.0 + x
        ex /= 3.0
    x *= x
    x *= ex
    return x
