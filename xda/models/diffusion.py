"""EDM preconditioning, loss and sampler shared by xda's models, and the observation encoder.

* :class:`Denoiser`: the EDM-preconditioned wrapper of the U-Net (Karras et al. 2022,
  eq. 7, Table 1) with ``sigma_data = 1``; the models work on normalised quantities
  (the assimilation model on departures from OI in units of OI's error std,
  :mod:`xda.models.anchored`; the downscaling model on normalised residuals).
* :func:`encode_observations`: a dense conditioning from sparse observations on the
  grid: the values, the mask, the error std, and normalised convolutions of the values
  at three scales (grid cells) -- an analytic, multi-scale "virtual reconstruction" in
  the spirit of PhyDA's Virtual Reconstruction Encoder.
* :class:`EDMLoss` (``sigma_data`` a parameter); :func:`sample_heun` (stateless, in
  k-diffusion's convention, Algorithm 1) and :func:`sample`.

There is no observation guidance: the assimilation model already conditions on the
observations (through OI and the encoding), and a likelihood term on top would count
them twice.

References
----------
Karras, Aittala, Aila, Laine (2022): Elucidating the design space of diffusion-based
generative models (EDM). NeurIPS.
Qu et al. (2025): PhyDA, arXiv 2505.12882.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .network import UNet

#: Scales (grid cells) of the normalised convolutions of the innovations.
ENCODER_SCALES = (2.0, 4.0, 8.0)
#: Channels of :func:`encode_observations`: value, mask, obs error, 3 x (value, weight).
N_ENCODED = 3 + 2 * len(ENCODER_SCALES)


def _gauss_kernel(scale: float, device, dtype):
    r = int(math.ceil(3 * scale))
    x = torch.arange(-r, r + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / scale) ** 2)
    return k / k.sum(), r


def _smooth(x: torch.Tensor, scale: float, periodic: bool) -> torch.Tensor:
    """Separable Gaussian smoothing of (B, C, ny, nx), zero outside the domain."""
    k, r = _gauss_kernel(scale, x.device, x.dtype)
    b, c, ny, nx = x.shape
    h = x.reshape(b * c, 1, ny, nx)
    if periodic and r < nx:
        h = F.pad(h, (r, r, 0, 0), mode="circular")
        h = F.conv2d(h, k.view(1, 1, 1, -1))
    else:
        h = F.conv2d(h, k.view(1, 1, 1, -1), padding=(0, r))
    h = F.conv2d(h, k.view(1, 1, -1, 1), padding=(r, 0))
    return h.reshape(b, c, ny, nx)


def encode_observations(innovation: torch.Tensor, mask: torch.Tensor, obs_error: torch.Tensor, periodic: bool) -> torch.Tensor:
    """Dense conditioning from sparse observations on the grid.

    Parameters
    ----------
    innovation : Tensor (B, ny, nx)
        Normalised innovation at observed cells (any value elsewhere).
    mask : Tensor (B, ny, nx)
        1 where observed, 0 elsewhere.
    obs_error : Tensor (B, ny, nx)
        Normalised observation-error std at observed cells.
    periodic : bool
        Whether the grid wraps in longitude.

    Returns
    -------
    Tensor (B, 3 + 2 * len(ENCODER_SCALES), ny, nx)
    """
    d = innovation * mask
    chans = [d, mask, obs_error * mask]
    both = torch.stack([d, mask], dim=1)
    for s in ENCODER_SCALES:
        sm = _smooth(both, s, periodic)
        weight = sm[:, 1]
        chans.append(sm[:, 0] / (weight + 1e-3))
        chans.append(1.0 - torch.exp(-weight * (2 * math.pi * s * s)))
    return torch.stack(chans, dim=1)


class Denoiser(nn.Module):
    """EDM-preconditioned denoiser ``D(x; sigma, cond)`` (Karras et al. 2022, eq. 7 and Table 1).

    ``D = c_skip x + c_out F(c_in x, c_noise)`` with ``c_skip = s_d^2/(sigma^2+s_d^2)``,
    ``c_out = sigma s_d / sqrt(sigma^2+s_d^2)``, ``c_in = 1/sqrt(sigma^2+s_d^2)``,
    ``c_noise = ln(sigma)/4`` and ``s_d = sigma_data = 1``.
    """

    sigma_data = 1.0

    def __init__(self, channels=(32, 64, 96, 128), n_variables: int = 2, x_channels: int = 1, cond_channels: int = N_ENCODED):
        super().__init__()
        self.config = dict(channels=list(channels), n_variables=n_variables, x_channels=x_channels, cond_channels=cond_channels)
        self.x_channels = x_channels
        self.net = UNet(x_channels + cond_channels, x_channels, tuple(channels), n_variables)

    def forward(self, x, sigma, cond, variable, periodic: bool):
        sd = self.sigma_data
        sigma = sigma.reshape(-1).to(x.dtype).expand(x.shape[0])
        s = sigma[:, None, None, None]
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        c_in = 1 / (s**2 + sd**2).sqrt()
        f = self.net(torch.cat([c_in * x, cond], dim=1), sigma.log() / 4, variable, periodic)
        return c_skip * x + c_out * f


class EDMLoss:
    """EDM training loss ``lambda(sigma) ||D(z + n; sigma) - z||^2`` (Karras et al. 2022, eq. 2, 8).

    ``ln sigma ~ N(p_mean, p_std^2)``, ``lambda = (sigma^2 + s_d^2) / (sigma s_d)^2``
    (Table 1, "Loss weighting"), with ``s_d = sigma_data`` a parameter (1 for the
    normalised increments xda models).

    Calling it with a denoiser ``D(x, sigma, **extra_args)`` and clean samples ``z``
    (B, C, ny, nx) returns the scalar loss, or with ``return_denoised=True`` also the
    denoised estimate and the noise levels (for losses on the denoised field, such as
    PhyDA's physics residual).
    """

    def __init__(self, p_mean: float = -1.2, p_std: float = 1.2, sigma_data: float = 1.0):
        self.p_mean, self.p_std, self.sigma_data = p_mean, p_std, sigma_data

    def __call__(self, denoiser, z: torch.Tensor, *, return_denoised: bool = False, **extra_args):
        sigma = torch.exp(self.p_mean + self.p_std * torch.randn(z.shape[0], device=z.device, dtype=z.dtype))
        s = sigma[:, None, None, None]
        d = denoiser(z + s * torch.randn_like(z), sigma, **extra_args)
        sd = self.sigma_data
        weight = (s**2 + sd**2) / (s * sd) ** 2
        loss = (weight * (d - z) ** 2).mean()
        return (loss, d, sigma) if return_denoised else loss

    def with_head(self, denoiser, u: torch.Tensor, head_sigma: float, weight: torch.Tensor | None = None):
        """(EDM loss of ``u``, the posterior-mean head's loss, the denoised batch), in one network call.

        The head is the denoiser at ``sigma = head_sigma`` given the noise's mean (0), so it learns
        ``E[u | cond]``; both halves go through ``denoiser(x, sigma)`` as one batch of 2B (one
        forward pass, as torch DDP expects: the caller doubles its conditioning). ``weight``
        (broadcastable to ``u``): a weighted mean (0 where a variable is missing), else the mean.
        """
        b = u.shape[0]
        sigma = torch.exp(self.p_mean + self.p_std * torch.randn(b, device=u.device, dtype=u.dtype))
        s = sigma[:, None, None, None]
        x = torch.cat([u + s * torch.randn_like(u), torch.zeros_like(u)])
        d = denoiser(x, torch.cat([sigma, torch.full_like(sigma, head_sigma)]))
        lam = (s**2 + self.sigma_data**2) / (s * self.sigma_data) ** 2
        if weight is None:
            return (lam * (d[:b] - u) ** 2).mean(), ((d[b:] - u) ** 2).mean(), d
        norm = weight.sum().clamp(min=1.0)
        return (lam * (d[:b] - u) ** 2 * weight).sum() / norm, ((d[b:] - u) ** 2 * weight).sum() / norm, d


def edm_loss(denoiser: Denoiser, z, cond, variable, periodic: bool, p_mean=-1.2, p_std=1.2, return_denoised: bool = False):
    """:class:`EDMLoss` with ``sigma_data = denoiser.sigma_data`` and xda's conditioning arguments."""
    loss = EDMLoss(p_mean, p_std, denoiser.sigma_data)
    return loss(denoiser, z, cond=cond, variable=variable, periodic=periodic, return_denoised=return_denoised)


def generator(seed: int | None, device=None) -> torch.Generator:
    """A torch generator for one call's sampling: seeded by ``seed``, or fresh entropy (``None``), without
    reseeding torch's global generator (the caller's random state is left alone)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63))
    return gen


def sigma_schedule(steps: int, sigma_min=0.02, sigma_max=10.0, rho=7.0, device=None, dtype=torch.float32):
    """EDM noise levels (Karras et al. 2022, eq. 5), with a final 0."""
    i = torch.arange(steps, device=device, dtype=torch.float64)
    s = (sigma_max ** (1 / rho) + i / max(steps - 1, 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64, device=device)]).to(dtype)


def squared_mean(e: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of ``|E[e]|^2 / n`` from ``K`` draws ``e`` (K, ...) of ``n`` elements each: the U-statistic
    ``(|sum_k e_k|^2 - sum_k |e_k|^2) / (K (K - 1) n)``, which, unlike ``|mean_k e_k|^2``, has no term of the draws'
    sampling noise, so a penalty on it does not shrink their spread (the consistency penalties of the anchored
    and downscaling models)."""
    k = e.shape[0]
    e = e.reshape(k, -1)
    total = e.sum(0)
    return ((total * total).sum() - (e * e).sum()) / (k * (k - 1) * total.numel())


@torch.no_grad()
def sample_heun(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None, callback=None) -> torch.Tensor:
    """Deterministic Heun sampler of the EDM probability-flow ODE (Karras et al. 2022, Algorithm 1).

    Stateless, in k-diffusion's convention: ``model(x, sigma, **extra_args) -> denoised``;
    ``x`` is the initial noise already scaled by ``sigmas[0]``; ``sigmas`` ends with 0.
    ``callback({"x", "i", "sigma", "denoised"})`` is called after each step.

    Returns
    -------
    Tensor, shape of ``x``
    """
    extra_args = extra_args or {}
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        d = model(x, s, **extra_args)
        slope = (x - d) / s
        x_next = x + (s_next - s) * slope
        if s_next > 0:  # Heun correction
            d2 = model(x_next, s_next, **extra_args)
            x_next = x + (s_next - s) * 0.5 * (slope + (x_next - d2) / s_next)
        x = x_next
        if callback is not None:
            callback({"x": x, "i": i, "sigma": s, "denoised": d})
    return x


@torch.no_grad()
def sample_euler(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None, callback=None) -> torch.Tensor:
    """Euler sampler of the EDM probability-flow ODE (k-diffusion's ``sample_euler`` without churn): one
    denoiser evaluation per noise level, for denoisers that are costly per call (a guided or optimised one,
    e.g. LO-SDA's :class:`xda.models.latent.LatentOptimization`).

    Same signature and conventions as :func:`sample_heun`.

    Returns
    -------
    Tensor, shape of ``x``
    """
    extra_args = extra_args or {}
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        d = model(x, s, **extra_args)
        x = x + (s_next - s) * (x - d) / s
        if callback is not None:
            callback({"x": x, "i": i, "sigma": s, "denoised": d})
    return x


class _Counted:
    """Counts the evaluations of a denoiser (NFE)."""

    def __init__(self, model):
        self.model, self.n = model, 0

    def __call__(self, x, sigma, **extra_args):
        self.n += 1
        return self.model(x, sigma.reshape(1), **extra_args)


def sample(
    denoiser: Denoiser,
    cond: torch.Tensor,
    variable: torch.Tensor,
    periodic: bool,
    *,
    steps: int = 16,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Samples from the denoiser's conditional distribution: noise, then :func:`sample_heun`.

    Parameters
    ----------
    denoiser : Denoiser
    cond : Tensor (B, cond_channels, ny, nx)
        Conditioning, one per sample (samples are the batch).
    variable : Tensor (B,) of int64
    periodic : bool
    steps : int
        Number of noise levels (Heun: ``2 * steps - 1`` denoiser evaluations).
    generator : torch.Generator, optional
        Source of the initial noise.

    Returns
    -------
    z : Tensor (B, denoiser.x_channels, ny, nx)
    nfe : int
        Number of denoiser evaluations.
    """
    b, _, ny, nx = cond.shape
    sigmas = sigma_schedule(steps, device=cond.device, dtype=cond.dtype)
    x = torch.randn((b, denoiser.x_channels, ny, nx), generator=generator, device=cond.device, dtype=cond.dtype) * sigmas[0]
    counted = _Counted(denoiser)
    x = sample_heun(counted, x, sigmas, dict(cond=cond, variable=variable, periodic=periodic))
    return x, counted.n
