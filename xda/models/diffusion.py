"""EDM denoiser for analysis increments, the observation encoder, and guided sampling.

The model works on *normalised increments* ``z = (x - x_b) / s_b`` (``s_b``: the
background-error standard deviation), so ``sigma_data = 1`` and one network serves
variables and regions with different error magnitudes. It is conditioned on

* the background, normalised by the variable's climatological mean and std;
* an encoding of the observations (:func:`encode_observations`): the normalised
  innovations ``d = (y - H x_b) / s_b`` placed on the grid, the observation mask, the
  observation-error std, and normalised convolutions of the innovations at three
  scales -- an analytic, multi-scale "virtual reconstruction" of the sparse
  observations in the spirit of PhyDA's Virtual Reconstruction Encoder;
* sin(latitude).

Sampling is stateless, in k-diffusion's convention (:func:`sample_heun`, the EDM
probability-flow ODE by Heun's method, Karras et al. 2022, Algorithm 1, noise passed
in); observation guidance is a wrapper around the denoiser (:class:`GaussianGuidance`,
SDA's Gaussian likelihood with variance ``sigma_o^2 + gamma * sigma^2``, Rozet & Louppe
2023, eq. 12, through the differentiable bilinear observation operator); the training
loss is an object with ``sigma_data`` a parameter (:class:`EDMLoss`). :func:`sample`
composes the three for xda's models.

References
----------
Karras, Aittala, Aila, Laine (2022): Elucidating the design space of diffusion-based
generative models (EDM). NeurIPS.
Rozet & Louppe (2023): Score-based data assimilation. NeurIPS.
Chung et al. (2023): Diffusion posterior sampling for general noisy inverse problems. ICLR.
Qu et al. (2025): PhyDA, arXiv 2505.12882.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..numerics.interp import apply_torch
from .network import UNet

#: Scales (grid cells) of the normalised convolutions of the innovations.
ENCODER_SCALES = (2.0, 4.0, 8.0)
#: Condition channels: background, sin(lat), innovation, mask, obs error, 3 x (value, weight).
N_COND = 5 + 2 * len(ENCODER_SCALES)


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

    def __init__(self, channels=(32, 64, 96, 128), n_variables: int = 2, x_channels: int = 1, cond_channels: int = N_COND):
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


def edm_loss(denoiser: Denoiser, z, cond, variable, periodic: bool, p_mean=-1.2, p_std=1.2, return_denoised: bool = False):
    """:class:`EDMLoss` with ``sigma_data = denoiser.sigma_data`` and xda's conditioning arguments."""
    loss = EDMLoss(p_mean, p_std, denoiser.sigma_data)
    return loss(denoiser, z, cond=cond, variable=variable, periodic=periodic, return_denoised=return_denoised)


def sigma_schedule(steps: int, sigma_min=0.02, sigma_max=10.0, rho=7.0, device=None, dtype=torch.float32):
    """EDM noise levels (Karras et al. 2022, eq. 5), with a final 0."""
    i = torch.arange(steps, device=device, dtype=torch.float64)
    s = (sigma_max ** (1 / rho) + i / max(steps - 1, 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64, device=device)]).to(dtype)


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


class GaussianGuidance:
    """Observation guidance as a wrapper around a denoiser (SDA's ``GaussianScore``).

    ``D'(x, sigma) = D(x, sigma) + w sigma^2 grad_x log N(y | H D(x, sigma), R + gamma sigma^2)``:
    the score of the Gaussian observation likelihood of the denoised estimate, with the
    variance ``sigma_o^2 + gamma * sigma^2`` of Rozet & Louppe (2023, SDA eq. 12),
    through the differentiable bilinear observation operator ``H`` (diffusion
    posterior sampling, Chung et al. 2023). Adding ``sigma^2`` times a score to the
    denoised estimate is Tweedie's formula.

    Parameters
    ----------
    denoiser : callable ``denoiser(x, sigma, **extra_args)``
    obs_index, obs_weight : Tensor (n_obs, 4)
        Bilinear observation operator on the grid of channel 0.
    obs_value, obs_error : Tensor (n_obs,)
        Observations (normalised innovations) and their error stds.
    weight : float
        Guidance weight ``w``.
    gamma : float
        SDA's variance inflation.
    """

    def __init__(self, denoiser, obs_index, obs_weight, obs_value, obs_error, weight: float = 1.0, gamma: float = 1.0):
        self.denoiser, self.index, self.weight_op = denoiser, obs_index, obs_weight
        self.value, self.error, self.weight, self.gamma = obs_value, obs_error, weight, gamma

    def __call__(self, x, sigma, **extra_args):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            d = self.denoiser(xg, sigma, **extra_args)
            pred = apply_torch(self.index, self.weight_op, d[:, 0])
            var = self.error**2 + self.gamma * sigma**2
            loglik = -0.5 * ((self.value - pred) ** 2 / var).sum()
            (grad,) = torch.autograd.grad(loglik, xg)
        return (d + self.weight * sigma**2 * grad).detach()


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
    obs_index: torch.Tensor | None = None,
    obs_weight: torch.Tensor | None = None,
    obs_value: torch.Tensor | None = None,
    obs_error: torch.Tensor | None = None,
    *,
    steps: int = 16,
    guidance: float = 1.0,
    gamma: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Posterior samples of the normalised increment: noise, :class:`GaussianGuidance`, :func:`sample_heun`.

    Parameters
    ----------
    denoiser : Denoiser
    cond : Tensor (B, N_COND, ny, nx)
        Conditioning, one per member (members are the batch).
    variable : Tensor (B,) of int64
    periodic : bool
    obs_index, obs_weight : Tensor (n_obs, 4)
        Bilinear observation operator; ``None`` disables guidance.
    obs_value, obs_error : Tensor (n_obs,)
        Normalised innovations and observation-error stds.
    steps : int
        Number of noise levels (Heun: ``2 * steps - 1`` denoiser evaluations).
    guidance : float
        Weight of the observation log-likelihood gradient (0: none).
    gamma : float
        SDA's variance inflation of the Gaussian likelihood approximation.
    generator : torch.Generator, optional
        Source of the initial noise.

    Returns
    -------
    z : Tensor (B, denoiser.x_channels, ny, nx)
        Samples of the normalised increment (or latent, for the downscaling model).
    nfe : int
        Number of denoiser evaluations.
    """
    b, _, ny, nx = cond.shape
    sigmas = sigma_schedule(steps, device=cond.device, dtype=cond.dtype)
    x = torch.randn((b, denoiser.x_channels, ny, nx), generator=generator, device=cond.device, dtype=cond.dtype) * sigmas[0]
    model = denoiser
    if guidance > 0 and obs_index is not None and obs_index.shape[0] > 0:
        model = GaussianGuidance(denoiser, obs_index, obs_weight, obs_value, obs_error, guidance, gamma)
    counted = _Counted(model)
    x = sample_heun(counted, x, sigmas, dict(cond=cond, variable=variable, periodic=periodic))
    return x, counted.n


def build_condition(background, sin_lat, innovation, mask, obs_error, periodic: bool) -> torch.Tensor:
    """Stack the conditioning channels.

    Parameters
    ----------
    background : Tensor (B, ny, nx)
        Background normalised by the climatological mean and std of the variable.
    sin_lat : Tensor (ny,)
    innovation, mask, obs_error : Tensor (B, ny, nx)
        See :func:`encode_observations`.

    Returns
    -------
    Tensor (B, N_COND, ny, nx)
    """
    b, ny, nx = background.shape
    lat = sin_lat.to(background.dtype)[None, None, :, None].expand(b, 1, ny, nx)
    enc = encode_observations(innovation, mask, obs_error, periodic)
    return torch.cat([background[:, None], lat, enc], dim=1)
