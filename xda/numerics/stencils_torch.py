"""Torch twins of :mod:`xda.numerics.stencils`: the same discretisation, differentiable.

Used by training losses (physics residuals of decoded fields). Fields are tensors
(..., ny, nx); the :class:`~xda.numerics.stencils.Geometry` coefficients are moved to
the field's device and dtype on each call.
"""

from __future__ import annotations

import torch

from .stencils import Geometry


def _t(a, like):
    return torch.as_tensor(a, dtype=like.dtype, device=like.device)


def _dlon(c: torch.Tensor, periodic: bool) -> torch.Tensor:
    """c[i+1] - c[i-1] (times 2 one-sided at regional edges, as the numba kernels)."""
    if periodic:
        return torch.roll(c, -1, -1) - torch.roll(c, 1, -1)
    d = torch.empty_like(c)
    d[..., 1:-1] = c[..., 2:] - c[..., :-2]
    d[..., 0] = 2 * (c[..., 1] - c[..., 0])
    d[..., -1] = 2 * (c[..., -1] - c[..., -2])
    return d


def _dlat(c: torch.Tensor) -> torch.Tensor:
    d = torch.empty_like(c)
    d[..., 1:-1, :] = c[..., 2:, :] - c[..., :-2, :]
    d[..., 0, :] = c[..., 1, :] - c[..., 0, :]
    d[..., -1, :] = c[..., -1, :] - c[..., -2, :]
    return d


def gradient(c: torch.Tensor, geo: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """(dc/dx, dc/dy); see :func:`xda.numerics.stencils.gradient`."""
    gx = _dlon(c, geo.periodic) * _t(geo.inv_2dx, c)[:, None]
    gy = _dlat(c) * _t(geo.inv_dy_c, c)[:, None]
    return gx, gy


def laplacian(c: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """Spherical laplacian; see :func:`xda.numerics.stencils.laplacian`."""
    if geo.periodic:
        zonal = torch.roll(c, -1, -1) - 2 * c + torch.roll(c, 1, -1)
    else:
        zonal = torch.full_like(c, float("nan"))
        zonal[..., 1:-1] = c[..., 2:] - 2 * c[..., 1:-1] + c[..., :-2]
    zonal = zonal * _t(geo.inv_dx2, c)[:, None]
    merid = torch.zeros_like(c)
    merid[..., :-1, :] = _t(geo.lap_n[:-1], c)[:, None] * (c[..., 1:, :] - c[..., :-1, :])
    merid[..., 1:, :] = merid[..., 1:, :] + _t(geo.lap_s[1:], c)[:, None] * (c[..., :-1, :] - c[..., 1:, :])
    out = zonal + merid
    if geo.regional_lat:
        out = out.clone()
        out[..., 0, :] = float("nan")
        out[..., -1, :] = float("nan")
    return out


def advection(c, u, v, geo: Geometry) -> torch.Tensor:
    """``u dc/dx + v dc/dy``; see :func:`xda.numerics.stencils.advection`."""
    gx, gy = gradient(c, geo)
    return u * gx + v * gy


def advection_diffusion_residual(c, u, v, kappa: float, time_s, geo: Geometry) -> torch.Tensor:
    """``dc/dt + u.grad(c) - kappa lap(c)`` for (nt, ny, nx); time axis first."""
    t = torch.as_tensor(time_s, dtype=torch.float64)
    nt = c.shape[0]
    idx = torch.arange(nt)
    tp, tm = torch.clamp(idx + 1, max=nt - 1), torch.clamp(idx - 1, min=0)
    inv_dt = _t((1.0 / (t[tp] - t[tm])).numpy(), c)[:, None, None]
    dcdt = (c[tp] - c[tm]) * inv_dt
    return dcdt + advection(c, u, v, geo) - kappa * laplacian(c, geo)


def divergence(u, v, geo: Geometry) -> torch.Tensor:
    """Torch twin of :func:`xda.numerics.stencils.divergence`."""
    cos = _t(geo.cos_lat, u)[:, None]
    return gradient(u, geo)[0] + gradient(v * cos, geo)[1] / cos


def vorticity(u, v, geo: Geometry) -> torch.Tensor:
    """Torch twin of :func:`xda.numerics.stencils.vorticity`."""
    cos = _t(geo.cos_lat, u)[:, None]
    return gradient(v, geo)[0] - gradient(u * cos, geo)[1] / cos


def geostrophic_residual(z, u, v, geo: Geometry, min_lat: float = 15.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch twin of :func:`xda.numerics.stencils.geostrophic_residual`: ``(u + (g/f) dz/dy, v - (g/f) dz/dx)``.

    ``z`` geopotential height (m), ``u``, ``v`` (m s-1), tensors (..., ny, nx); zero (not
    NaN, so that it can be summed in a loss) where ``|phi| < min_lat`` degrees. Used by
    the physics term of the assimilation loss (:mod:`xda.models.joint`).
    """
    import numpy as np

    from .constants import GRAVITY, OMEGA

    gx, gy = gradient(z, geo)
    sin = np.asarray(geo.sin_lat, np.float64)
    mid = np.abs(sin) >= np.sin(np.deg2rad(min_lat))
    gf = _t(np.where(mid, GRAVITY / (2 * OMEGA * np.where(mid, sin, 1.0)), 0.0), z)[:, None]
    return (u + gf * gy) * (gf != 0), (v - gf * gx) * (gf != 0)
