"""Downscaling of near-surface temperature anchored on orographic lapse-rate downscaling.

The model refines a coarse temperature field by any factor it was trained for (2, 3, 4)
on any regular grid in its range of fine spacings. It never predicts the fine field
itself: it predicts the *departure from the classical answer*

``d = T_fine - L(T_coarse)``,

where ``L`` is the lapse-rate baseline (:func:`xda.numerics.lapse_rate.lapse_rate_downscale`:
conservative bicubic interpolation plus ``gamma`` times the fine orography's detail,
``gamma`` regressed on the coarse field itself). The output is
``P[L + d_hat]``, with ``P`` the exact projection onto the fields whose block means are
the input (:func:`xda.numerics.regrid.conserve`). ``L`` is already conservative, so a
network that outputs zero returns the baseline exactly.

Two networks work on the *fine* grid, fully convolutional, so neither the grid size
nor the factor is built in:

* a deterministic **regression** U-Net: the mean departure;
* an EDM **denoiser** that generates the departure from the regression, for members
  (the ``"xda"`` method; Karras et al. 2022), residual on a regression as CorrDiff
  (Mardani et al. 2025);
* optionally a **mean head**, a third U-Net that sees the features and the regression
  and is trained on the sampler's own mean (distilled): the model's estimate (the
  ``"regression"`` method, and the centre of the ensemble), so that the members need no
  recentring. The denoiser conditions on the regression, and its samples' mean differs
  from it by more than sampling noise (and is the better estimate at x2):
  ``benchmarks/results/downscaling_consistency.md``.

Both see the same :func:`features` (:data:`FEATURES`): the baseline, the coarse blocks,
the fine orography and its detail, the land fraction (ETOPO) and its detail, the
estimated lapse rate, the coarse winds interpolated to the fine grid (with a flag:
winds may be missing), sin(latitude), the cell sizes in km and the factor. Training
(:mod:`xda.training.downscaling`) adds to the denoising loss the steady
advection-diffusion residual of the denoised field (PhyDA's Physically Regularized
Diffusion Objective; the PDE-informed downscaling of arXiv 2510.23866), with explicit
winds and the torch twins of the diagnostics' stencils (:func:`pde_residual`).

References
----------
Dodson, R. and Marks, D. (1997): Daily air temperature interpolated at high spatial
resolution over a large mountainous region. Clim. Res. 8, 1-20 (the baseline).
Karras et al. (2022): Elucidating the design space of diffusion-based generative models.
Mardani et al. (2025): Residual corrective diffusion modeling for km-scale atmospheric
downscaling (CorrDiff). Commun. Earth Environ.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..numerics import regrid, stencils
from ..numerics import stencils_torch as st
from ..numerics.constants import EARTH_RADIUS
from ..numerics.ensemble import recentred_spread
from ..numerics.lapse_rate import STANDARD_LAPSE_RATE, fine_detail, lapse_rate_downscale
from .diffusion import Denoiser, generator, sample
from .network import UNet
from ..errors import ParameterError

#: Scales of the inputs: temperature (K), winds (m s-1), orography (m), cell size (km).
T_SCALE, WIND_SCALE, OROG_SCALE, KM_SCALE = 10.0, 10.0, 1000.0, 200.0
#: The input channels of both networks, in order (see :func:`features`).
FEATURES = ("baseline", "blocks", "orography", "orography_detail", "land", "land_detail", "lapse_rate",
            "u", "v", "wind_flag", "sin_lat", "dx", "dy", "factor")


def _noiseless(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (noise level 0, variable 0) labels, one per field, under which the deterministic U-Nets run."""
    return (torch.zeros(x.shape[0], device=x.device, dtype=x.dtype),
            torch.zeros(x.shape[0], dtype=torch.long, device=x.device))


class AnchoredDownscaler(nn.Module):
    """Regression U-Net and EDM denoiser of the departure from the lapse-rate baseline.

    Parameters
    ----------
    channels : sequence of int
        U-Net widths per level (both networks).
    """

    def __init__(self, channels=(32, 64, 128), mean_head: bool = False):
        super().__init__()
        self.channels = list(channels)
        nf = len(FEATURES)
        self.regressor = UNet(nf, 1, tuple(channels), n_variables=1)
        self.denoiser = Denoiser(channels, n_variables=1, x_channels=1, cond_channels=nf + 1)
        self.mean_head = None
        if mean_head:
            self.mean_head = UNet(nf + 1, 1, tuple(channels), n_variables=1)
            nn.init.zeros_(self.mean_head.out.weight)  # starts as the regression
            nn.init.zeros_(self.mean_head.out.bias)

    @property
    def config(self) -> dict:
        """The constructor's arguments (a card's ``network``), with the mean head if one is attached."""
        return dict(channels=self.channels, **({"mean_head": True} if self.mean_head is not None else {}))

    def regress(self, x: torch.Tensor, periodic: bool) -> torch.Tensor:
        """Normalised mean departure (B, 1, fy, fx) from the features (B, len(FEATURES), fy, fx): the
        regression U-Net, on which the denoiser is conditioned."""
        return self.regressor(x, *_noiseless(x), periodic)

    def estimate(self, x: torch.Tensor, reg: torch.Tensor, periodic: bool) -> torch.Tensor:
        """The model's mean departure (B, 1, fy, fx), normalised: ``reg`` plus the mean head's correction, the
        sampler's own mean distilled (:meth:`xda.training.downscaling._Stages.mean_head`), so that the members
        (:meth:`sample`) are centred on it; ``reg`` itself for a model without one."""
        if self.mean_head is None:
            return reg
        return reg + self.mean_head(torch.cat([x, reg], dim=1), *_noiseless(x), periodic)

    def sample(self, x: torch.Tensor, reg: torch.Tensor, periodic: bool, steps: int = 16,
               generator=None) -> tuple[torch.Tensor, int]:
        """Samples of the normalised departure from the regression (B, 1, fy, fx), Heun's method."""
        var = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        return sample(self.denoiser, torch.cat([x, reg], dim=1), var, periodic, steps=steps, generator=generator)


def features(t_c, lat_c, lon_c, lat_f, lon_f, orog_f, land_f, periodic: bool, u_c=None, v_c=None,
             gamma=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lapse-rate baseline and the networks' inputs.

    Parameters
    ----------
    t_c : ndarray (B, y, x), K
        Coarse temperature, latitudes ascending.
    lat_c, lon_c, lat_f, lon_f : ndarray
        Coarse and fine cell centres, degrees ascending; the fine grid nests ``f x f``
        cells in each coarse one (``f = lat_f.size // lat_c.size``).
    orog_f, land_f : ndarray (fy, fx)
        Fine surface altitude (m) and land area fraction (0..1).
    periodic : bool
    u_c, v_c : ndarray (B, y, x), m s-1, optional
    gamma : float or ndarray (B,), optional
        Lapse rate (K m-1); default: estimated from each field.

    Returns
    -------
    baseline : ndarray (B, fy, fx), K
        :func:`xda.numerics.lapse_rate.lapse_rate_downscale`.
    gamma : ndarray (B,), K m-1
    x : ndarray (B, len(FEATURES), fy, fx), float32
    """
    f = lat_f.size // lat_c.size
    b = t_c.shape[0]
    base, gamma = lapse_rate_downscale(t_c, orog_f, lat_c, lon_c, lat_f, lon_f, f, periodic, gamma=gamma)
    gamma = np.broadcast_to(gamma, (b,))
    blocks = np.repeat(np.repeat(t_c, f, axis=-2), f, axis=-1)
    w = np.cos(np.deg2rad(lat_c))[:, None] * np.ones(t_c.shape[-1])
    mean = (np.sum(t_c * w, axis=(-2, -1)) / w.sum())[:, None, None]  # area mean of each field
    detail = lambda a: fine_detail(a, lat_c, lon_c, lat_f, lon_f, f, periodic)  # noqa: E731
    if u_c is None:
        u_f = v_f = np.zeros_like(base)
        flag = 0.0
    else:
        u_f, v_f = (regrid.upsample(w, lat_c, lon_c, lat_f, lon_f, "linear", periodic) for w in (u_c, v_c))
        flag = 1.0
    dy, dx = grid_spacing_km(lat_f, lon_f)
    fy, fx = base.shape[-2:]
    full = lambda a: np.broadcast_to(a, (b, fy, fx))  # noqa: E731
    cols = [(base - mean) / T_SCALE, (blocks - base) / T_SCALE * 5, full(orog_f / OROG_SCALE),
            full(detail(orog_f) / OROG_SCALE * 2), full(land_f), full(detail(land_f) * 2),
            full(gamma[:, None, None] / STANDARD_LAPSE_RATE), u_f / WIND_SCALE, v_f / WIND_SCALE,
            full(np.float64(flag)), full(np.sin(np.deg2rad(lat_f))[:, None]), full(dx[:, None] / KM_SCALE),
            full(np.float64(dy / KM_SCALE)), full(np.float64(f / 4))]
    return base, gamma, np.stack(cols, axis=1).astype(np.float32)


def grid_spacing_km(lat_f: np.ndarray, lon_f: np.ndarray) -> tuple[float, np.ndarray]:
    """(north-south spacing (km), east-west spacing per row (km, (fy,))) of a regular grid."""
    dy = float(np.median(np.abs(np.diff(lat_f)))) if lat_f.size > 1 else 1.0
    dlon = float(np.median(np.abs(np.diff(lon_f)))) if lon_f.size > 1 else 1.0
    k = np.pi / 180 * EARTH_RADIUS / 1e3
    return dy * k, dlon * k * np.cos(np.deg2rad(lat_f))


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


#: Fields per network call on a CPU. Measured (``hs-t63-ds-v1``, 12 MPI-ESM fields x2 to 96 x 192, 2 threads,
#: 2026-12-02): the regression 0.54 s in calls of 1 field, 0.55 in 2, 0.60 in 4, 0.69 in 8; 4 members of 4 fields
#: 4.8 s in calls of 1, 5.3 in 2, 5.6 in 4-8 (larger activations outgrow the caches).
CPU_CHUNK = 1
#: Fields per network call on an accelerator (not measured: no GPU was lent).
DEVICE_CHUNK = 8


def chunk_size(device) -> int:
    """Fields per network call of :func:`downscale_arrays` on ``device``: :data:`CPU_CHUNK` on a CPU, else
    :data:`DEVICE_CHUNK`."""
    return CPU_CHUNK if torch.device(device).type == "cpu" else DEVICE_CHUNK


def downscale_arrays(
    t_c: np.ndarray,
    lat_c: np.ndarray,
    lon_c: np.ndarray,
    lat_f: np.ndarray,
    lon_f: np.ndarray,
    orog_f: np.ndarray,
    land_f: np.ndarray,
    periodic: bool,
    *,
    model: AnchoredDownscaler,
    card: dict,
    u_c: np.ndarray | None = None,
    v_c: np.ndarray | None = None,
    method: str = "xda",
    members: int = 1,
    steps: int = 16,
    seed: int | None = None,
    chunk: int | None = None,
    gamma: float | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Downscale plain arrays (latitudes ascending, SI units) with the anchored model.

    Parameters
    ----------
    t_c : ndarray (B, y, x), K
        Coarse temperature.
    lat_c, lon_c, lat_f, lon_f : ndarray
        Coarse and fine cell centres, degrees ascending (the fine grid nests ``f x f``
        cells in each coarse one: :func:`xda.numerics.regrid.fine_coords`).
    orog_f, land_f : ndarray (fy, fx)
        Fine surface altitude (m) and land area fraction (0..1).
    periodic : bool
    model, card : the network and its card (``departure_std``, ``residual2_std``).
    u_c, v_c : ndarray (B, y, x), m s-1, optional
    method : {"xda", "regression"}
        ``"regression"``: the model's mean departure (:meth:`AnchoredDownscaler.estimate`:
        the regression, plus the sampler's mean distilled when the model has a mean head);
        ``"xda"``: ``members`` samples. With a mean head they are the sampler's raw draws,
        centred on that estimate within sampling noise. Without one, two or more are
        recentred on the regression, ``u_k = Reg + sqrt(n/(n-1)) (z_k - mean z)`` (as an
        ensemble of variational analyses is recentred on its control). One member is the
        sample itself.
    members, steps : int
        Samples per field and Heun steps (``2 * steps - 1`` denoiser evaluations each).
    seed : int, optional
    chunk : int, optional
        Fields per network call; default :func:`chunk_size` of the model's device.
    gamma : float, optional
        The anchor's lapse rate (K m-1); default: estimated from each field.

    Returns
    -------
    fine : ndarray (members, B, fy, fx), K
        Block means equal ``t_c`` (:func:`xda.numerics.regrid.conserve`).
    gamma : ndarray (B,), K m-1
        The baseline's lapse rates.
    nfe : int
        Denoiser evaluations per member (0 for the regression).
    """
    if method not in ("xda", "regression"):
        raise ParameterError(f"unknown method {method!r}: the learned methods are 'xda' and 'regression' (the classical "
                         "ones are in xda.numerics.regrid and xda.numerics.lapse_rate)")
    f = lat_f.size // lat_c.size
    base, gamma, x = features(t_c, lat_c, lon_c, lat_f, lon_f, orog_f, land_f, periodic, u_c, v_c, gamma)
    param = next(model.parameters())
    dev, dt = param.device, param.dtype
    chunk = chunk_size(dev) if chunk is None else chunk
    gen = generator(seed, dev)  # seed=None: fresh entropy, torch's global generator untouched
    n = members if method == "xda" else 1
    out, nfe = np.empty((n, *base.shape)), 0
    s_d, s_2 = card["departure_std"], card["residual2_std"]
    with torch.no_grad():
        for s in range(0, base.shape[0], chunk):
            xb = torch.tensor(x[s : s + chunk], dtype=dt, device=dev)
            reg = model.regress(xb, periodic)
            if method == "regression":
                dep = model.estimate(xb, reg, periodic)[None]
            else:
                z = torch.zeros((n, *reg.shape), dtype=dt, device=dev)
                for k in range(n):
                    z[k], nfe = model.sample(xb, reg, periodic, steps=steps, generator=gen)
                if n > 1 and model.mean_head is None:  # recentred on the regression, unbiased for n
                    z = recentred_spread(z)
                dep = reg + s_2 * z
            out[:, s : s + chunk] = base[s : s + chunk] + s_d * dep[:, :, 0].double().cpu().numpy()
    return regrid.conserve(out, t_c[None], lat_f, f), gamma, nfe
