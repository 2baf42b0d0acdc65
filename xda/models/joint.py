"""The multivariate anchored model: one denoiser of the whole state (z500, tas, u500, v500).

The univariate anchored model (:mod:`xda.models.anchored`) corrects each variable's OI
analysis from that variable's observations only. This model corrects all variables
at once, so that observing one variable updates the others (heights the winds, winds the
heights), on top of the classical multivariate anchor: per-variable tuned OI with
geostrophically balanced wind increments (:mod:`xda.numerics.balance`).

For each variable ``v`` of the card's state the target is ``u_v = (x_t - x_a) / s_a`` as
in the univariate model (``s_a = s_b`` for a variable without observations); the
network's input ``x`` has one channel per variable. Two observation encoders are
selectable (``encoder`` in the card):

* ``"analytic"``: the normalised convolutions of :func:`xda.models.diffusion.encode_observations`
  for each variable, as in the univariate model;
* ``"vre"``: :class:`VirtualReconstructionEncoder`, PhyDA's Virtual Reconstruction
  Encoder (Qu et al. 2025, sec. 3.2): reversible instance normalisation per variable,
  strided multi-scale convolutions and attention from a coarse grid over the set of
  observations, trained with the denoiser.

PhyDA's Physically Regularized Diffusion Objective is :class:`JointLoss` with
``physics_weight > 0``: the geostrophic residual of the denoised state, by the torch
twin of the diagnostic's stencil (:func:`xda.numerics.stencils_torch.geostrophic_residual`).

References
----------
Qu et al. (2025): PhyDA, arXiv 2505.12882 (VRE, PRDO eq. 9-10).
Karras et al. (2022): EDM. Daley (1991): Atmospheric Data Analysis, ch. 5.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..numerics import stencils, stencils_torch
from .anchored import SIGMA_HEAD, anchored_condition
from .diffusion import N_ENCODED, Denoiser, EDMLoss
from ..errors import ParameterError

#: Per-variable fields of the condition that are not observations (background, increment, ratio, regime).
N_STATE_FIELDS = 4
#: Channels of :func:`anchored_condition` per variable (the fields, sin(lat) and the encoding).
N_PER_VARIABLE = N_STATE_FIELDS + 1 + N_ENCODED
#: Condition fields of a variable missing from the background: climatological mean, no increment, s_a = s_b
#: = the climatological std, no observations (:func:`xda.models.anchored.condition_fields`).
MISSING_FIELDS = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
#: Wind scale (m s-1) of the physics term of the loss.
WIND_SCALE = 10.0


class VirtualReconstructionEncoder(nn.Module):
    """PhyDA's Virtual Reconstruction Encoder: sparse observations of V variables -> a dense condition.

    Input: the normalised analysis residuals, mask and observation error of each variable
    on the grid (the fields 4-6 of :func:`xda.models.anchored.condition_fields`).

    1. Reversible instance normalisation (RevIN, Kim et al. 2022) per case and variable:
       the residuals at observed cells minus their mean over them, over their std; the
       mean and std are kept as two constant channels, so nothing is lost.
    2. Strided multi-scale convolutions: for each stride ``s`` in ``strides``, a ``2s x 2s``
       convolution of stride ``s`` of (values, mask, error), upsampled back (bilinear).
    3. Attention over the observation set: queries on the coarsest strided grid (with
       their position), keys and values one per observed cell (value, error, variable,
       position); multi-head cross-attention, upsampled back.

    Output: ``out_channels`` channels on the grid.
    """

    def __init__(self, n_variables: int, width: int = 32, out_channels: int = 24, strides=(2, 4, 8), heads: int = 4):
        super().__init__()
        self.n_variables, self.strides = n_variables, tuple(strides)
        cin = 5 * n_variables  # value, mask, error, RevIN mean, RevIN std
        self.convs = nn.ModuleList(nn.Conv2d(cin, width, 2 * s, stride=s) for s in self.strides)
        self.token = nn.Linear(2 + n_variables + 4, width)
        self.query = nn.Linear(4, width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mix = nn.Sequential(nn.Conv2d(cin + width * (len(self.strides) + 1), 2 * width, 1), nn.SiLU(),
                                 nn.Conv2d(2 * width, out_channels, 1))

    @staticmethod
    def _revin(value, mask):
        n = mask.sum((-2, -1), keepdim=True).clamp(min=1.0)
        mean = (value * mask).sum((-2, -1), keepdim=True) / n
        std = (((value - mean) * mask) ** 2).sum((-2, -1), keepdim=True).div(n).sqrt().clamp(min=1e-2)
        return (value - mean) / std * mask, mean.expand_as(value), std.expand_as(value)

    def forward(self, obs: torch.Tensor, lat: torch.Tensor, lon: torch.Tensor, periodic: bool) -> torch.Tensor:
        """``obs`` (B, V, 3, ny, nx): residual, mask, error per variable; ``lat``, ``lon`` (ny,), (nx,) degrees."""
        b, nv, _, ny, nx = obs.shape
        value, mask, err = obs[:, :, 0], obs[:, :, 1], obs[:, :, 2]
        vn, mean, std = self._revin(value, mask)
        x = torch.cat([vn, mask, err * mask, mean * (mask.sum((-2, -1), keepdim=True) > 0), std.log()], dim=1)
        feats = [x]
        for s, conv in zip(self.strides, self.convs):
            h = F.pad(x, (s // 2, s - s // 2, 0, 0), mode="circular" if periodic else "replicate")
            h = F.pad(h, (0, 0, s // 2, s - s // 2), mode="replicate")
            feats.append(F.interpolate(F.silu(conv(h)), size=(ny, nx), mode="bilinear", align_corners=False))
        feats.append(self._attend(vn, mask, err, lat, lon, feats[-1].shape[1], (ny, nx)))
        return self.mix(torch.cat(feats, dim=1))

    def _attend(self, vn, mask, err, lat, lon, width, size):
        b, nv, ny, nx = vn.shape
        s = self.strides[-1]
        qlat, qlon = F.avg_pool1d(lat[None, None], s, s, ceil_mode=True)[0, 0], F.avg_pool1d(lon[None, None], s, s, ceil_mode=True)[0, 0]
        pos = lambda la, lo: torch.stack([torch.sin(la), torch.cos(la), torch.sin(lo), torch.cos(lo)], -1)  # noqa: E731
        glat, glon = torch.meshgrid(torch.deg2rad(qlat), torch.deg2rad(qlon), indexing="ij")
        q = self.query(pos(glat, glon).reshape(1, -1, 4)).expand(b, -1, -1)
        plat, plon = torch.meshgrid(torch.deg2rad(lat), torch.deg2rad(lon), indexing="ij")
        onehot = torch.eye(nv, dtype=vn.dtype, device=vn.device)[None, :, None, None, :].expand(b, nv, ny, nx, nv)
        tok = torch.cat([vn[..., None], err[..., None], onehot, pos(plat, plon)[None, None].expand(b, nv, ny, nx, 4)], -1)
        m = mask.reshape(b, -1) > 0
        k = max(int(m.sum(1).max()), 1)
        order = torch.argsort(m.to(torch.int8), dim=1, descending=True, stable=True)[:, :k]  # observed tokens first
        tokens = torch.gather(tok.reshape(b, -1, tok.shape[-1]), 1, order[..., None].expand(-1, -1, tok.shape[-1]))
        pad = ~torch.gather(m, 1, order)
        pad[:, 0] = False  # a case without observations attends to one zero token
        out, _ = self.attn(q, self.token(tokens), self.token(tokens), key_padding_mask=pad)
        out = out.transpose(1, 2).reshape(b, -1, qlat.numel(), qlon.numel())
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


class JointDenoiser(nn.Module):
    """EDM denoiser of the whole state's ``u`` (one channel per variable), with its observation encoder.

    :meth:`condition` turns the per-variable fields into the network's condition once per
    analysis; ``forward(x, sigma, cond, variable, periodic)`` has the signature of
    :class:`xda.models.diffusion.Denoiser`, so the samplers of :mod:`xda.models.anchored`
    apply unchanged.
    """

    def __init__(self, n_variables: int, channels=(16, 32, 64, 128), encoder: str = "analytic", vre_channels: int = 24):
        super().__init__()
        if encoder not in ("analytic", "vre"):
            raise ParameterError(f"unknown encoder {encoder!r}; use 'analytic' or 'vre'")
        self.config = dict(n_variables=n_variables, channels=list(channels), encoder=encoder, vre_channels=vre_channels)
        self.n_variables, self.encoder = n_variables, encoder
        cond = n_variables * N_PER_VARIABLE if encoder == "analytic" else n_variables * N_STATE_FIELDS + 1 + vre_channels
        self.vre = VirtualReconstructionEncoder(n_variables, out_channels=vre_channels) if encoder == "vre" else None
        self.denoiser = Denoiser(channels, n_variables=1, x_channels=n_variables, cond_channels=cond)
        self.x_channels = n_variables

    def condition(self, fields: torch.Tensor, lat: torch.Tensor, lon: torch.Tensor, periodic: bool) -> torch.Tensor:
        """The condition (B, C, ny, nx) from ``fields`` (B, V, 7, ny, nx) (:func:`xda.models.anchored.condition_fields`
        per variable) and the grid's ``lat``, ``lon`` (degrees)."""
        sin_lat = torch.sin(torch.deg2rad(lat))
        if self.vre is None:
            return analytic_condition(fields, sin_lat, periodic)
        b, nv, _, ny, nx = fields.shape
        state = fields[:, :, :N_STATE_FIELDS].reshape(b, nv * N_STATE_FIELDS, ny, nx)
        return torch.cat([state, sin_lat[None, None, :, None].expand(b, 1, ny, nx), self.vre(fields[:, :, 4:], lat, lon, periodic)], 1)

    def forward(self, x, sigma, cond, variable, periodic: bool):
        return self.denoiser(x, sigma, cond, torch.zeros_like(variable), periodic)


def analytic_condition(fields: torch.Tensor, sin_lat: torch.Tensor, periodic: bool) -> torch.Tensor:
    """Per variable :func:`xda.models.anchored.anchored_condition`, concatenated: (B, V * N_PER_VARIABLE, ny, nx)."""
    return torch.cat([anchored_condition(fields[:, v], sin_lat, periodic) for v in range(fields.shape[1])], 1)


def analysis_state(fields: torch.Tensor, means, stds) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_a, s_a)`` (B, V, ny, nx) in working units from the condition fields and the card's climatology."""
    m = torch.as_tensor(means, dtype=fields.dtype, device=fields.device)[None, :, None, None]
    s = torch.as_tensor(stds, dtype=fields.dtype, device=fields.device)[None, :, None, None]
    sb = s * fields[:, :, 3]
    return m + s * fields[:, :, 0] + sb * fields[:, :, 1], sb * fields[:, :, 2]


def balance_penalty(x: torch.Tensor, index: tuple[int, int, int], geo: stencils.Geometry) -> torch.Tensor:
    """Mean squared geostrophic residual of the state ``x`` (B, V, ny, nx) over ``WIND_SCALE^2``, mid-latitudes.

    ``index``: the channels of z500 (m), u500 and v500 (m s-1).
    """
    ru, rv = stencils_torch.geostrophic_residual(x[:, index[0]], x[:, index[1]], x[:, index[2]], geo)
    return ((ru**2 + rv**2) / WIND_SCALE**2).mean()


class JointLoss:
    """EDM loss of the state's ``u`` plus the posterior-mean head, plus PhyDA's physics term (PRDO).

    ``L = mean w(sigma) |D - u|^2 + |D_head - u|^2 + lambda(sigma) R(x_a + s_a D)``

    where ``R`` is :func:`balance_penalty` of the denoised state (0 without z500, u500 and
    v500 in the state). Schedule: ``lambda(sigma) = physics_weight``, the same at every
    noise level and for the head. Geostrophic balance is linear, so the residual of a
    denoised (posterior-mean) field is meaningful at any sigma; PhyDA's ``lambda(t)``
    weights the residual at every step the same way (Qu et al. 2025, eq. 10).

    Note that the minimiser of the first two terms already has the residual of the
    conditional mean of the truth; the physics term pulls towards exact balance, which
    the truth does not have (ageostrophic winds of a few m s-1). Measure, do not assume.
    """

    def __init__(self, physics_weight: float = 0.0, p_mean: float = -1.2, p_std: float = 1.2, balance_index=None,
                 means=None, stds=None):
        self.physics_weight, self.edm = physics_weight, EDMLoss(p_mean, p_std, 1.0)
        self.balance_index, self.means, self.stds = balance_index, means, stds

    def __call__(self, net, u, cond, fields, periodic: bool, geo=None, present=None) -> tuple[torch.Tensor, dict]:
        """(loss, its parts) for ``u`` (B, V, ny, nx); ``present`` (B, V) is 0 for a variable missing from a
        case (no loss on it; no physics term for a case missing one of z500, u500, v500)."""
        b = u.shape[0]
        present = torch.ones(u.shape[:2], dtype=u.dtype, device=u.device) if present is None else present
        w = present[:, :, None, None].expand_as(u)
        cond2, zero = torch.cat([cond, cond]), torch.zeros(2 * b, dtype=torch.long, device=u.device)
        edm, head, d = self.edm.with_head(lambda x, sig: net(x, sig, cond2, zero, periodic), u, SIGMA_HEAD, w)
        total, parts = edm + head, {"edm": edm.item(), "head": head.item()}
        if self.physics_weight > 0 and self.balance_index is not None and geo is not None:
            keep = present[:, list(self.balance_index)].all(1)
            if keep.any():
                f2 = torch.cat([fields[keep], fields[keep]])
                xa, sa = analysis_state(f2, self.means, self.stds)
                phys = balance_penalty(xa + sa * torch.cat([d[:b][keep], d[b:][keep]]), self.balance_index, geo)
                total = total + self.physics_weight * phys
                parts["physics"] = phys.item()
        return total, parts


def joint_denoiser(n_variables: int, channels=(16, 32, 64, 128), encoder: str = "analytic") -> JointDenoiser:
    """An untrained joint denoiser (output layer zero: exactly the anchor's posterior)."""
    return JointDenoiser(n_variables, channels, encoder)


def cell_geometry(lat, lon, periodic: bool) -> stencils.Geometry:
    """The stencils' geometry of a (possibly cropped) grid, for the physics term."""
    return stencils.geometry(np.asarray(lat, np.float64), np.asarray(lon, np.float64), periodic)


__all__ = ["JointDenoiser", "JointLoss", "VirtualReconstructionEncoder", "analysis_state", "balance_penalty",
           "joint_denoiser", "cell_geometry"]
