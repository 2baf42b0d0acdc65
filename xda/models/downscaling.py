"""Physics-informed latent diffusion downscaling of near-surface temperature.

The model (:class:`Downscaler`) refines a coarse temperature field by a factor
``f`` (4 for the shipped model) in each direction. It predicts the *fine residual*
``r = T_fine - B(T_coarse)``, where ``B`` is bicubic interpolation of the coarse field
to the fine grid (:func:`xda.numerics.regrid.upsample`): the part of the fine field that
interpolation cannot know. Three parts:

* an **autoencoder** (:class:`AutoEncoder`, space-to-depth) maps the normalised
  residual ``r / s_r`` on the fine grid to a latent of ``latent`` channels on the
  *coarse* grid (``f x f`` fine cells -> ``latent`` numbers) and back;
* an EDM **denoiser** in that latent space (:class:`~xda.models.diffusion.Denoiser`),
  conditioned on the coarse temperature, the coarse winds (with a flag: winds may be
  missing), the coarse orography, the fine orography's departure from its own bicubic
  interpolation (space-to-depth, ``f^2`` channels) and sin(latitude);
* a deterministic **regression** U-Net of similar size on the same inputs, which
  outputs the residual directly (space-to-depth ``f^2`` channels): a baseline, and the
  mean that the diffusion model corrects. With ``target: "regression"`` in the card
  (the shipped model) the autoencoder and the denoiser work on the departure from the
  regression, ``(r / s_r - Reg) / s_2``, as CorrDiff and the PDE-informed downscaling
  paper do ("a residual formulation against a reference UNet").

Training (:mod:`xda.training.downscaling`) adds to the denoising loss the
advection-diffusion residual of the decoded field (Physically Regularized Diffusion
Objective of PhyDA; the PDE-informed downscaling of arXiv 2510.23866), computed with
the torch twins of the diagnostics' stencils (:func:`pde_residual`).

References
----------
Rombach et al. (2022): High-resolution image synthesis with latent diffusion models. CVPR.
Karras et al. (2022): Elucidating the design space of diffusion-based generative models.
Mardani et al. (2025): Residual corrective diffusion modeling for km-scale atmospheric
downscaling (CorrDiff). Commun. Earth Environ. -- the "residual from interpolation" target.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..numerics import regrid, stencils
from ..numerics import stencils_torch as st
from .diffusion import Denoiser, sample
from .network import Conv3, ResBlock, UNet

#: Scale of the wind inputs (m s-1) and of the orography inputs (m).
WIND_SCALE = 10.0
OROG_SCALE = 1000.0


def n_condition(factor: int) -> int:
    """Condition channels: T, u, v, wind flag, orography, sin(lat), f^2 orography details."""
    return 6 + factor * factor


class AutoEncoder(nn.Module):
    """Space-to-depth (variational) autoencoder: (B, 1, fy, fx) <-> (B, latent, y, x).

    The encoder folds each ``f x f`` block of the fine field into ``f^2`` channels
    (``pixel_unshuffle``) and compresses them, with 3x3 context, to ``latent`` channels
    on the coarse grid; the decoder mirrors it (``pixel_shuffle`` to ``fine_channels``
    per fine cell) and ends with two 3x3 convolutions on the fine grid that smooth the
    block seams. Almost all the work is on the coarse grid, so training and the physics
    loss (which decodes every example) stay cheap on a CPU. The encoder returns the mean
    and log-variance of a diagonal Gaussian posterior (trained with a small KL weight, as
    the KL-regularised autoencoder of Rombach et al. 2022); the latent is its mean at
    inference.
    """

    def __init__(self, factor: int = 4, latent: int = 4, widths=(32, 8)):
        super().__init__()
        width, fine = widths
        f2 = factor * factor
        self.factor = factor
        self.e_in = Conv3(f2, width)
        self.e_blocks = nn.ModuleList([ResBlock(width, width, 1) for _ in range(2)])
        self.e_norm = nn.GroupNorm(8, width)
        self.e_out = Conv3(width, 2 * latent)
        self.d_in = Conv3(latent, width)
        self.d_blocks = nn.ModuleList([ResBlock(width, width, 1) for _ in range(2)])
        self.d_norm = nn.GroupNorm(8, width)
        self.d_up = Conv3(width, f2 * fine)
        self.f_mid = Conv3(fine, fine)
        self.f_out = Conv3(fine, 1)

    def encode(self, r: torch.Tensor, periodic: bool) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.e_in(F.pixel_unshuffle(r, self.factor), periodic)
        for blk in self.e_blocks:
            h = blk(h, None, periodic)
        h = self.e_out(F.silu(self.e_norm(h)), periodic)
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-12, 4)

    def decode(self, z: torch.Tensor, periodic: bool) -> torch.Tensor:
        h = self.d_in(z, periodic)
        for blk in self.d_blocks:
            h = blk(h, None, periodic)
        h = F.pixel_shuffle(self.d_up(F.silu(self.d_norm(h)), periodic), self.factor)
        return self.f_out(F.silu(self.f_mid(F.silu(h), periodic)), periodic)


class Downscaler(nn.Module):
    """Autoencoder + latent denoiser + regression baseline (see the module docstring)."""

    def __init__(self, factor: int = 4, latent: int = 4, ae_widths=(32, 8), channels=(32, 64, 128)):
        super().__init__()
        self.config = dict(factor=factor, latent=latent, ae_widths=list(ae_widths), channels=list(channels))
        self.factor = factor
        nc = n_condition(factor)
        self.ae = AutoEncoder(factor, latent, ae_widths)
        self.denoiser = Denoiser(channels, n_variables=1, x_channels=latent, cond_channels=nc)
        self.regressor = UNet(nc, factor * factor, tuple(channels), n_variables=1)
        self.register_buffer("latent_scale", torch.ones(latent))

    def regress(self, cond: torch.Tensor, periodic: bool) -> torch.Tensor:
        """Deterministic normalised residual (B, 1, fy, fx)."""
        b = cond.shape[0]
        zero = torch.zeros(b, device=cond.device, dtype=cond.dtype)
        var = torch.zeros(b, dtype=torch.long, device=cond.device)
        return F.pixel_shuffle(self.regressor(cond, zero, var, periodic), self.factor)

    def decode(self, z: torch.Tensor, periodic: bool) -> torch.Tensor:
        """Normalised residual (B, 1, fy, fx) from a normalised latent (B, latent, y, x)."""
        return self.ae.decode(z * self.latent_scale[None, :, None, None], periodic)

    def sample(self, cond: torch.Tensor, periodic: bool, steps: int = 16, generator=None,
               residual2_std: float | None = None) -> tuple[torch.Tensor, int]:
        """Samples of the normalised residual (B, 1, fy, fx) by Heun's method (no guidance).

        With ``residual2_std`` (models whose card has ``target: "regression"``) the
        diffusion model generates the departure from the regression U-Net, in units of
        ``residual2_std``: the sample is ``regress(cond) + residual2_std * Dec(z)``.
        """
        var = torch.zeros(cond.shape[0], dtype=torch.long, device=cond.device)
        z, nfe = sample(self.denoiser, cond, var, periodic, steps=steps, generator=generator)
        r = self.decode(z, periodic)
        if residual2_std:
            r = self.regress(cond, periodic) + residual2_std * r
        return r, nfe


def static_inputs(orog_f: np.ndarray, lat_f, lon_f, lat_c, lon_c, factor: int, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
    """(coarse orography (y, x), fine orography detail (fy, fx)), metres.

    The detail is the fine orography minus the bicubic interpolation of its block mean:
    the fine structure the coarse grid cannot see.
    """
    oc = regrid.coarsen(orog_f, factor, lat_f)
    detail = orog_f - regrid.upsample(oc, lat_c, lon_c, lat_f, lon_f, "cubic", periodic)
    return oc, detail


def condition(tas_c, u_c, v_c, flag, orog_c, detail_f, sin_lat_c, factor: int) -> torch.Tensor:
    """Stack the normalised condition channels (B, n_condition(factor), y, x).

    Parameters
    ----------
    tas_c : Tensor (B, y, x)
        ``(T - tas_mean) / tas_std`` of the coarse temperature.
    u_c, v_c : Tensor (B, y, x)
        Coarse winds / ``WIND_SCALE`` (zeros where ``flag`` is 0).
    flag : Tensor (B,)
        1 when winds are given, 0 when not.
    orog_c : Tensor (B, y, x)
        Coarse orography / ``OROG_SCALE``.
    detail_f : Tensor (B, fy, fx)
        Fine orography detail / ``OROG_SCALE`` (space-to-depth to ``f^2`` channels).
    sin_lat_c : Tensor (y,)
    """
    b, ny, nx = tas_c.shape
    fl = flag.to(tas_c.dtype)[:, None, None].expand(b, ny, nx)
    s = sin_lat_c.to(tas_c.dtype)[None, :, None].expand(b, ny, nx)
    base = torch.stack([tas_c, u_c * fl, v_c * fl, fl, orog_c, s], dim=1)
    return torch.cat([base, F.pixel_unshuffle(detail_f[:, None], factor)], dim=1)


def pde_residual(tas: torch.Tensor, u: torch.Tensor, v: torch.Tensor, kappa: float, geo: stencils.Geometry) -> torch.Tensor:
    """Steady advection-diffusion residual ``u dT/dx + v dT/dy - kappa lap(T)`` (K s-1).

    The torch twin of ``xda.advection(...) - kappa * xda.laplacian(...)`` (the
    diagnostics' stencils, :mod:`xda.numerics.stencils_torch`). A single snapshot has no
    tendency, so ``dT/dt`` is left out, as in the PDE-informed downscaling paper; the
    winds are explicit (the paper approximated them from temperature gradients).

    Parameters
    ----------
    tas, u, v : Tensor (..., fy, fx)
        Temperature (K) and winds (m s-1) on the fine grid.
    kappa : float
        Diffusivity, m2 s-1.
    geo : Geometry
        Fine-grid coefficients (:func:`xda.numerics.stencils.geometry`).
    """
    return st.advection(tas, u, v, geo) - kappa * st.laplacian(tas, geo)


def downscale_arrays(
    tas_c: np.ndarray,
    lat_c: np.ndarray,
    lon_c: np.ndarray,
    lat_f: np.ndarray,
    lon_f: np.ndarray,
    orog_f: np.ndarray,
    periodic: bool,
    *,
    model: Downscaler | None,
    card: dict | None,
    u_c: np.ndarray | None = None,
    v_c: np.ndarray | None = None,
    method: str = "xda",
    members: int = 1,
    steps: int = 16,
    seed: int | None = None,
    chunk: int = 16,
    calibrated: bool = False,
) -> tuple[np.ndarray, int]:
    """Downscale plain arrays (south-to-north latitudes, SI units).

    Parameters
    ----------
    tas_c : ndarray (B, y, x), K
        Coarse temperature.
    lat_c, lon_c, lat_f, lon_f : ndarray
        Coarse and fine cell centres, degrees, latitudes ascending.
    orog_f : ndarray (fy, fx), m, or None
        Fine surface altitude.
    periodic : bool
    model, card : Downscaler and its card.
    u_c, v_c : ndarray (B, y, x), m s-1, optional
    method : {"xda", "regression"}
    members : int
        Samples per field (``"xda"`` only).
    steps : int
        Heun steps (``2 * steps - 1`` denoiser evaluations per member).
    seed : int, optional
    chunk : int
        Fields (times x members) per network call.
    calibrated : bool
        Scale the generated departure from the regression by the std of the
        regression's error on the *validation* split (card ``residual2_std_validation``)
        instead of the training split: a calibrated spread, at the cost of a larger
        error of each member.

    Returns
    -------
    fine : ndarray (members, B, fy, fx), K
        Projected onto the fields whose block means are ``tas_c``
        (:func:`xda.numerics.regrid.conserve`).
    nfe : int
        Denoiser evaluations per member (0 for the others).
    """
    if method not in ("xda", "regression"):
        raise ValueError(f"unknown method {method!r}: the learned methods are 'xda' and 'regression' (the classical "
                         "ones are in xda.numerics.regrid and xda.numerics.lapse_rate)")
    b = tas_c.shape[0]
    f = card["factor"]
    base = regrid.upsample(tas_c, lat_c, lon_c, lat_f, lon_f, "cubic", periodic)
    oc, detail = static_inputs(orog_f, lat_f, lon_f, lat_c, lon_c, f, periodic)
    param = next(model.parameters())
    dev, dt = param.device, param.dtype
    t = lambda a: torch.tensor(np.asarray(a), dtype=dt, device=dev)  # noqa: E731  (copies: inputs may be read-only views)
    tn = (tas_c - card["tas_mean"]) / card["tas_std"]
    if u_c is None:
        un = vn = np.zeros_like(tn)
        flag = np.zeros(b)
    else:
        un, vn, flag = u_c / WIND_SCALE, v_c / WIND_SCALE, np.ones(b)
    cond = condition(t(tn), t(un), t(vn), t(flag), t(np.broadcast_to(oc / OROG_SCALE, tn.shape)),
                     t(np.broadcast_to(detail / OROG_SCALE, (b, *detail.shape))), t(np.sin(np.deg2rad(lat_c))), f)
    n = members if method == "xda" else 1
    s2 = card.get("residual2_std_validation") if calibrated else card.get("residual2_std")
    if calibrated and s2 is None:
        raise ValueError("this model's card has no validation spread (residual2_std_validation); use calibrated=False")
    out = np.empty((n, b, lat_f.size, lon_f.size))
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed) if seed is not None else int(torch.seed() % 2**31))
    # all (member, field) pairs as one batch, in chunks
    pairs = [(k, i) for k in range(n) for i in range(b)]
    nfe = 0
    with torch.no_grad():
        for s in range(0, len(pairs), chunk):
            part = pairs[s : s + chunk]
            c = cond[[i for _, i in part]]
            if method == "xda":
                r, nfe = model.sample(c, periodic, steps=steps, generator=gen, residual2_std=s2)
            else:
                r = model.regress(c, periodic)
            r = r[:, 0].double().cpu().numpy() * card["residual_std"]
            for j, (k, i) in enumerate(part):
                out[k, i] = base[i] + r[j]
    return regrid.conserve(out, tas_c[None], lat_f, f), nfe
