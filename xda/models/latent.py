"""The latent variant of the joint model: a KL autoencoder of the state and a denoiser in its latent space.

PhyDA and LO-SDA run diffusion in a VAE latent space. Here:

* :class:`StateAutoencoder`: a KL autoencoder (Rombach et al. 2022) of the normalised
  state ``f = (x - mean) / std`` (one channel per variable) to ``latent`` channels on a
  grid 4 times coarser in each direction, trained by reconstruction plus a small KL term;
  its reconstruction error per variable is recorded in the card.
* :class:`LatentJointDenoiser`: an EDM denoiser of ``delta = (E(f_t) - E(f_a)) / s_delta``,
  the departure of the truth's latent from the anchor's, conditioned on ``E(f_a)`` and on
  the joint model's pixel condition averaged to the latent grid. The analysis is

      x = x_a + std * (Dec(E(f_a) + s_delta delta) - Dec(E(f_a))),

  so a denoiser that learned nothing (``delta = 0``) returns the anchor exactly, whatever
  the autoencoder's reconstruction error; :meth:`LatentJointDenoiser.pixel_departure`
  turns ``delta`` into the pixel-space ``u = (x - x_a) / s_a`` the task layer expects.
* :func:`latent_optimization_samples`: LO-SDA's latent optimisation (Li et al. 2025): a
  background-conditioned reverse process in which, at every noise level, the denoised
  latent is refined by a few Adam steps so that the decoded state fits the observations,
  with a proximal term that keeps it near the denoiser's estimate. The observations enter
  once: the network is then conditioned on the background alone (trained so by dropping
  the observations from a fifth of the cases).

References
----------
Rombach et al. (2022): High-resolution image synthesis with latent diffusion models.
Qu et al. (2025): PhyDA, arXiv 2505.12882. Li et al. (2025): LO-SDA, arXiv 2510.22562.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .diffusion import Denoiser, sample_euler, sigma_schedule
from .joint import N_PER_VARIABLE, analytic_condition
from .network import Conv3, ResBlock

#: Down-sampling factor of the latent grid (each direction).
LATENT_FACTOR = 4


def _pad4(x: torch.Tensor) -> torch.Tensor:
    py, px = (-x.shape[-2]) % LATENT_FACTOR, (-x.shape[-1]) % LATENT_FACTOR
    return F.pad(x, (0, px, 0, py), mode="replicate") if (py or px) else x


class StateAutoencoder(nn.Module):
    """KL autoencoder ``(B, V, ny, nx) -> (B, latent, ny/4, nx/4)`` of the normalised state."""

    def __init__(self, n_variables: int = 4, channels=(32, 64), latent: int = 8):
        super().__init__()
        self.config = dict(n_variables=n_variables, channels=list(channels), latent=latent)
        c0, c1 = channels
        self.e_in, self.e1, self.e2, self.e3 = Conv3(n_variables, c0), ResBlock(c0, c0, 1), ResBlock(c0, c1, 1), ResBlock(c1, c1, 1)
        self.e_out = nn.Conv2d(c1, 2 * latent, 1)
        self.d_in, self.d1, self.d2, self.d3 = Conv3(latent, c1), ResBlock(c1, c1, 1), ResBlock(c1, c0, 1), ResBlock(c0, c0, 1)
        self.d_out = Conv3(c0, n_variables)

    def encode(self, f: torch.Tensor, periodic: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of the latent, each (B, latent, ceil(ny/4), ceil(nx/4))."""
        per = periodic and f.shape[-1] % LATENT_FACTOR == 0
        h = self.e1(self.e_in(_pad4(f), per), None, per)
        h = self.e2(F.avg_pool2d(h, 2), None, per)
        h = self.e3(F.avg_pool2d(h, 2), None, per)
        return self.e_out(h).chunk(2, dim=1)

    def decode(self, z: torch.Tensor, size, periodic: bool) -> torch.Tensor:
        """The normalised state (B, V, *size) of a latent."""
        per = periodic and size[-1] % LATENT_FACTOR == 0
        h = self.d1(self.d_in(z, per), None, per)
        h = self.d2(F.interpolate(h, scale_factor=2, mode="nearest"), None, per)
        h = self.d3(F.interpolate(h, scale_factor=2, mode="nearest"), None, per)
        return self.d_out(h, per)[..., : size[0], : size[1]]


class LatentJointDenoiser(nn.Module):
    """The joint model in the autoencoder's latent space (see the module docstring).

    Same call signature as :class:`xda.models.joint.JointDenoiser`; the samplers of
    :mod:`xda.models.anchored` run on ``delta`` (``x_channels = latent``).
    """

    def __init__(self, n_variables: int, channels=(32, 64, 96), latent: int = 8, ae_channels=(32, 64),
                 means=None, stds=None, s_delta: float = 1.0):
        super().__init__()
        self.config = dict(n_variables=n_variables, channels=list(channels), latent=latent, ae_channels=list(ae_channels),
                           means=list(means or [0.0] * n_variables), stds=list(stds or [1.0] * n_variables), s_delta=s_delta)
        self.autoencoder = StateAutoencoder(n_variables, ae_channels, latent).requires_grad_(False)
        n_pix = n_variables * N_PER_VARIABLE
        self.denoiser = Denoiser(channels, n_variables=1, x_channels=latent, cond_channels=latent + n_pix)
        self.x_channels, self.n_variables, self.s_delta = latent, n_variables, s_delta
        self.register_buffer("means", torch.tensor(self.config["means"], dtype=torch.float32))
        self.register_buffer("stds", torch.tensor(self.config["stds"], dtype=torch.float32))

    def anchor_state(self, fields: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised anchor ``f_a``, ``s_a / std``), each (B, V, ny, nx), from the condition fields."""
        f0, f1, f2, f3 = (fields[:, :, k] for k in range(4))
        return f0 + f3 * f1, f3 * f2

    def condition(self, fields, lat, lon, periodic: bool) -> torch.Tensor:
        """``[E(f_a), pool(pixel condition)]`` on the latent grid (B, latent + C, ny/4, nx/4)."""
        fa, _ = self.anchor_state(fields)
        za, _ = self.autoencoder.encode(fa, periodic)
        pix = F.avg_pool2d(_pad4(analytic_condition(fields, torch.sin(torch.deg2rad(lat)), periodic)), LATENT_FACTOR)
        return torch.cat([za, pix], dim=1)

    def forward(self, x, sigma, cond, variable, periodic: bool):
        return self.denoiser(x, sigma, cond, torch.zeros_like(variable), periodic)

    def pixel_departure(self, delta: torch.Tensor, cond: torch.Tensor, fields: torch.Tensor, periodic: bool) -> torch.Tensor:
        """``u = (x - x_a) / s_a`` (B, V, ny, nx) of a latent departure ``delta`` (exactly 0 for ``delta = 0``)."""
        za = cond[:, : self.x_channels]
        size = fields.shape[-2:]
        _, sa = self.anchor_state(fields)
        dec = self.autoencoder.decode(torch.cat([za + self.s_delta * delta, za]), size, periodic)
        return (dec[: len(delta)] - dec[len(delta):]) / sa.clamp(min=1e-6)


class LatentOptimization:
    """LO-SDA's guidance as a denoiser wrapper (Li et al. 2025): the denoised latent ``d = D(x; sigma)`` refined
    to the minimum of the summed objective

        J(delta) = 1/2 sum_obs ((r - H dx(delta)) / s_o)^2 + 1/2 sum (delta - d)^2 / v(sigma),
        v(sigma) = sigma^2 / (1 + sigma^2)

    (``dx``: the decoded departure, ``r``: the innovations and ``s_o`` their errors, all in units
    of ``s_a``, on the working grid's cells). The second term is the Gaussian approximation of
    ``p(delta | x_sigma)`` about the denoiser's mean with the posterior variance of a unit-variance
    prior (as in PiGDM, Song et al. 2023): the observations weigh once, against a prior as wide as
    the latent's at high noise and as narrow as ``sigma^2`` at low noise. ``J`` is minimised by
    ``lo_steps`` iterations of L-BFGS with a strong-Wolfe line search (``lr``: its first step), a
    quasi-Newton method whose steps scale with the curvature of ``J``, not a fixed learning rate.
    Called as a denoiser, ``(x, sigma, cond, variable, periodic) -> refined d``, by any sampler of
    :mod:`xda.models.diffusion`.
    """

    def __init__(self, net: LatentJointDenoiser, fields, obs, lo_steps: int = 5, lr: float = 1.0):
        self.net, self.fields, self.lo_steps, self.lr = net, fields, lo_steps, lr
        self.r, self.mask, self.err = obs[:, :, 0], obs[:, :, 1], obs[:, :, 2].clamp(min=1e-3)

    def objective(self, delta, d, sigma, cond, periodic: bool) -> torch.Tensor:
        """``J(delta)`` summed over the batch (each member's objective is its own: the sum is separable)."""
        u = self.net.pixel_departure(delta, cond, self.fields, periodic)
        v = sigma**2 / (1 + sigma**2)
        return 0.5 * (self.mask * ((self.r - u) / self.err) ** 2).sum() + 0.5 * ((delta - d) ** 2).sum() / v

    def __call__(self, x, sigma, cond, variable, periodic: bool) -> torch.Tensor:
        with torch.no_grad():
            d = self.net(x, sigma.reshape(1), cond, variable, periodic)
        delta = d.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([delta], lr=self.lr, max_iter=self.lo_steps, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            with torch.enable_grad():
                j = self.objective(delta, d, sigma, cond, periodic)
                j.backward()
            return j

        opt.step(closure)
        return delta.detach()


def latent_optimization_samples(net: LatentJointDenoiser, cond, fields, obs, periodic: bool, *, steps: int = 8,
                                lo_steps: int = 5, lr: float = 0.1, generator=None) -> tuple[torch.Tensor, int]:
    """LO-SDA: background-conditioned reverse process with latent optimisation at every noise level.

    The Euler sampler (:func:`xda.models.diffusion.sample_euler`) of the denoiser wrapped in
    :class:`LatentOptimization`: at each noise level the denoised latent is refined towards
    the observations, then the probability-flow ODE steps with the refined estimate.

    Parameters
    ----------
    cond, fields : the condition (no observations in it) and the fields it came from.
    obs : Tensor (B, V, 3, ny, nx)
        Innovations over ``s_a``, mask and observation error over ``s_a``, on the working grid.

    Returns
    -------
    (delta samples (B, latent, h, w), denoiser evaluations per sample)
    """
    b = cond.shape[0]
    sigmas = sigma_schedule(steps, device=cond.device, dtype=cond.dtype)
    x = torch.randn((b, net.x_channels) + cond.shape[-2:], generator=generator, device=cond.device, dtype=cond.dtype) * sigmas[0]
    zero = torch.zeros(b, dtype=torch.long, device=cond.device)
    guided = LatentOptimization(net, fields, obs, lo_steps, lr)
    return sample_euler(guided, x, sigmas, dict(cond=cond, variable=zero, periodic=periodic)), steps
