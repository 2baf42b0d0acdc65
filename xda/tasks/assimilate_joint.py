"""The multivariate analysis: the classical multivariate anchor, then one joint learned correction.

Called by :func:`xda.tasks.assimilate.assimilate` for models whose card says ``joint``
(:mod:`xda.models.joint`). Every variable of the background that the model's state
knows is analysed, observed or not: observing one variable updates the others.

1. Anchor (classical): per observed variable, background check, tuned ``B`` and OI, in
   the state's order (z500 first); the winds' background first gains the tapered
   geostrophic wind of the height increment times the card's ``balance_coefficient``
   (:mod:`xda.numerics.balance`). Variables without observations keep that
   background, with ``s_a = s_b`` (the card's statistics).
2. Correction (learned): the joint denoiser's posterior-mean head (or samples,
   recentred on it), ``x = x_a + s_a w_v u_v``. The weight ``w_v`` of each observed
   variable is cross-validated on its withheld observations as in the univariate model;
   a variable without observations takes the smallest weight of the observed ones
   (a correction that does not verify where it can be checked is not trusted where it
   cannot).
"""

from __future__ import annotations

import numpy as np

from ..errors import ObservationError
from ..assimilation.anchor import balanced_anchor, oi_analyser, oi_analysis, std_grid
from ..numerics import oi, stencils
from ..numerics.ensemble import recentred_spread
from ..numerics.interp import apply
from ..numerics.threads import map_in_threads
from ..assimilation.verify import Weight, correction_weight, spread_scale, withheld
from ..models.cards import architecture
from .batching import Evaluation, last
from .request import Request


def _anchor(xb: dict, obs: dict, bes: dict, priors: dict, grid, card, analysers: dict | None = None) -> dict:
    """Per state key present: (x_a, s_a, s_b) on the grid (:func:`xda.assimilation.anchor.balanced_anchor`);
    ``obs``: the accepted observations per key, ``bes`` their B, ``priors`` the B of the others; ``analysers``:
    per key, :func:`xda.assimilation.anchor.oi_analyser` of all its observations (the folds share its work)."""
    def analyse(key, xb_key):
        ob = obs[key]
        xa, sa = (analysers[key](ob, xb_key) if analysers else
                  oi_analysis(xb_key, ob.value - apply(ob.operator, xb_key), ob, bes[key], grid))
        return xa[0], (xa[0], sa, std_grid(bes[key], grid.lat, grid.lon))

    def unobserved(key, xb_key):
        sb = std_grid(priors[key], grid.lat, grid.lon)
        return xb_key, (xb_key, sb, sb)

    geo = stencils.geometry(grid.lat, grid.lon, grid.periodic)
    return balanced_anchor(xb, card["variables"], obs, analyse, unobserved, geo, float(card.get("balance_coefficient", 0.0)))


def _fields(req: Request, xb: dict, anchor: dict, obs: dict, grid):
    """The network's condition (1, C, ...), the fields it came from (1, V, 7, wny, wnx) and the working grid."""
    import torch

    from ..models import anchored
    from ..models.joint import MISSING_FIELDS

    card, device = req.card, req.device
    wg = anchored.working_grid(card, grid.lat, grid.lon, grid.periodic, "the state")
    rows = []
    for key, entry in card["variables"].items():
        if key not in xb:
            rows.append(np.broadcast_to(np.asarray(MISSING_FIELDS)[:, None, None], (7, wg.wlat.size, wg.wlon.size)))
            continue
        xa, sa, sb = anchor[key]
        ob = obs.get(key)
        e = np.empty(0)
        olat, olon, res, err = (e, e, e, e) if ob is None else (ob.lat, ob.lon, ob.value - apply(ob.operator, xa), ob.error)
        rows.append(anchored.network_fields(entry, wg, xb[key], xa, sa, sb, olat, olon, res, err))
    dtype = next(req.net.parameters()).dtype
    t = lambda a: torch.tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    fields = t(np.stack(rows)[None])
    return fields, (t(wg.wlat), t(wg.wlon)), wg


def departures(req: Request, cases: list, grid, members: int):
    """The joint ``u`` of each case on the input grid, (len(cases) * max(members, 1), V, ny, nx), and the
    evaluations per field.

    ``cases``: ``(x_b, anchor, observations)`` of one state each (the verification's folds, the analysis,
    and those of other times), on ``grid``. ``members=0``: the posterior-mean head of each case; else
    ``members`` samples of each, each case's noise drawn from its own generator of ``req.seed`` (the same
    members as alone: the ODE is deterministic given the noise), latent models' back in the pixels
    (:func:`xda.models.anchored.in_batches`).
    """
    import torch

    from ..models import anchored

    net = req.net
    prepared = [_fields(req, xb, anchor, ob, grid) for xb, anchor, ob in cases]
    (wlat, wlon), wg = prepared[0][1:]
    with torch.no_grad():
        conds = [net.condition(fields, wlat, wlon, grid.periodic) for fields, _, _ in prepared]
    pixels = (lambda u, cond, which: net.pixel_departure(u, cond, torch.cat([prepared[k][0] for k in which]),  # noqa: E731
                                                         grid.periodic)) if architecture(req.card) == "latent" else None
    u, nfe = anchored.in_batches(net, conds, 0, grid.periodic, members, steps=req.steps, seed=req.seed, finish=pixels)
    return np.stack([wg.from_work(u[:, v]) for v in range(u.shape[1])], axis=1), nfe


def _optimised(req: Request, xb, anchor, obs, grid, members: int):
    """LO-SDA's samples (members, V, ny, nx) on the input grid and the evaluations per member: the network sees the
    background alone and the observations in ``obs`` enter through the latent optimisation
    (:func:`xda.models.latent.latent_optimization_samples`, keyword arguments ``req.latent_optimization``)."""
    import torch

    from ..models.diffusion import generator
    from ..models.latent import latent_optimization_samples

    net = req.net
    fields, (wlat, wlon), wg = _fields(req, xb, anchor, obs, grid)
    seen = fields.clone()
    seen[:, :, 4:] = 0.0  # the condition without the observations
    cond = net.condition(seen, wlat, wlon, grid.periodic).expand(members, -1, -1, -1)
    u, nfe = latent_optimization_samples(net, cond, seen.expand(members, -1, -1, -1, -1),
                                         fields[:, :, 4:].expand(members, -1, -1, -1, -1), grid.periodic,
                                         steps=req.steps, generator=generator(req.seed, req.device),
                                         **req.latent_optimization)
    with torch.no_grad():
        u = net.pixel_departure(u, cond, seen.expand(members, -1, -1, -1, -1), grid.periodic)
    u = u.double().cpu().numpy()
    return np.stack([wg.from_work(u[:, v]) for v in range(u.shape[1])], axis=1), nfe


def _warmed(analyse, ob):
    """``analyse`` (:func:`xda.assimilation.anchor.oi_analyser`) once it has analysed all of ``ob``: its kept
    factorisation made."""
    analyse(ob)
    return analyse


def _weights(xb, obs, bes, priors, grid, card, analysers: dict, workers: int):
    """Cross-validated weight (:class:`xda.assimilation.verify.Weight`) of the correction and scale of the error
    std (:func:`xda.assimilation.verify.spread_scale`; 1 where unverified) per state key (see the module
    docstring), and evaluations spent; ``analysers`` as :func:`_anchor`'s; the folds' anchors on ``workers``
    threads. A generator: it yields the folds' cases ``[(x_b, anchor, train), ...]`` and is sent their heads' ``u``
    (folds, V, ny, nx)."""
    keys, state = [k for k in card["variables"] if k in xb], list(card["variables"])
    verification = withheld(obs)
    trains = next(verification)
    anchors = map_in_threads(lambda train: _anchor(xb, train, bes, priors, grid, card, analysers), trains, workers)
    u = yield [(xb, anchor, train) for anchor, train in zip(anchors, trains)]
    res, n = last(verification, [{k: (a[k][0], a[k][1] * u_f[state.index(k)], a[k][1]) for k in train}
                                  for a, train, u_f in zip(anchors, trains, u)])
    w = {k: correction_weight(r, c) for k, (r, c, _, _) in res.items()}
    spread = {k: spread_scale(r, c, s, e, w[k].weight) for k, (r, c, s, e) in res.items()}
    unverified = correction_weight(np.zeros(0), np.zeros(0))
    floor = min(w.values(), key=lambda x: x.weight) if w else unverified
    return {k: w.get(k, unverified if k in obs else floor) for k in keys}, {k: spread.get(k, 1.0) for k in keys}, n


def analyse_joint(req: Request, xb: dict, obs: dict, bes: dict, priors: dict, grid, anchor_only: bool = False):
    """The joint analysis of the state keys in ``xb``.

    A generator of :class:`~xda.tasks.batching.Evaluation` (``problem`` None, cases of :func:`departures`), sent
    ``(u, evaluations per field)``, so that the network evaluations of several times go together
    (:func:`xda.tasks.batching.together`): the verification's folds and the head in one, then the members.

    Parameters
    ----------
    req : Request
        The call's settings: the joint model and its card, members, seed, steps, verify,
        device and ``latent_optimization`` (LO-SDA, latent models only: the anchor is the
        background, the network sees no observations, and ``members`` samples (at least
        one) come from the reverse process with latent optimisation, keyword arguments of
        :func:`xda.models.latent.latent_optimization_samples`; no cross-validated weight).
    xb : dict
        Background (ny, nx) per state key present, working units.
    obs : dict
        Accepted observations per observed key (:class:`xda.labeled.observations.PointObservations`).
    bes : dict
        ``B`` per observed key.
    priors : dict
        ``B`` per state key present, from its standard name's prior
        (:func:`xda.assimilation.covariance.prior_for`): that of the unobserved keys.
    anchor_only : bool
        Outside the model's range: the classical anchor (and its pointwise posterior members).

    Returns
    -------
    (analysis per key (members, ny, nx), analysis-error std per key (ny, nx), weights per key, evaluations,
    scale of the error std per key: the members' spread and the std are the anchor's times it)
    """
    if not obs:
        raise ObservationError("no usable observations of any variable of the state; nothing to assimilate")
    keys, members, card = list(req.card["variables"]), req.members, req.card  # the network's channels
    if req.latent_optimization is not None:
        return _latent(req, xb, obs, priors, grid)
    # the verification's analysers (its folds') give the anchor too, from the same factorisations, made (and
    # their factorisations warmed by the analysis of all observations) variable by variable on req.workers threads
    analysers = None
    if req.verify and not anchor_only:
        made = map_in_threads(lambda k: _warmed(oi_analyser(xb[k], obs[k], bes[k], grid), obs[k]), list(obs), req.workers)
        analysers = dict(zip(obs, made))
    anchor = _anchor(xb, obs, bes, priors, grid, card, analysers)
    if anchor_only:
        analysis = {k: (oi.pointwise_members(anchor[k][0], anchor[k][1], members, req.seed) if members > 1
                        else anchor[k][0][None]) for k in xb}
        return (analysis, {k: anchor[k][1] for k in xb}, {k: correction_weight(np.zeros(0), np.zeros(0)) for k in xb}, 0,
                {k: 1.0 for k in xb})
    verification = _weights(xb, obs, bes, priors, grid, card, analysers, req.workers) if req.verify else None
    folds = next(verification) if verification else []
    u, nfe = yield Evaluation(None, folds + [(xb, anchor, obs)])
    weights, spreads, n_folds = (last(verification, u[:-1]) if verification else
                                 ({k: Weight(1.0, np.nan, 1.0, np.nan) for k in xb}, {k: 1.0 for k in xb}, 0))
    u, nfe = {k: weights[k].weight * u[-1:, keys.index(k)] for k in xb}, nfe * (n_folds + 1)
    if members > 1:
        samples, ns = yield Evaluation(None, [(xb, anchor, obs)], members)
        spread = recentred_spread(samples)
        u = {k: u[k] + spreads[k] * spread[:, keys.index(k)] for k in xb}
        nfe += members * ns
    analysis = {k: anchor[k][0][None] + anchor[k][1][None] * u[k] for k in xb}
    return analysis, {k: anchor[k][1] * spreads[k] for k in xb}, weights, nfe, spreads


def _latent(req: Request, xb: dict, obs: dict, priors: dict, grid) -> tuple[dict, dict, dict, int, dict]:
    """LO-SDA: samples of the reverse process with latent optimisation about the background (s_a = s_b of the
    standard names' priors)."""
    keys, members = list(req.card["variables"]), req.members
    anchor = _anchor(xb, {}, {}, priors, grid, req.card)
    u_all, nfe = _optimised(req, xb, anchor, obs, grid, max(members, 1))
    u = {k: u_all[:, keys.index(k)] for k in xb}
    if members <= 1:
        u = {k: v[:1] for k, v in u.items()}
    analysis = {k: anchor[k][0][None] + anchor[k][1][None] * u[k] for k in xb}
    return (analysis, {k: anchor[k][1] for k in xb}, {k: Weight(1.0, np.nan, 1.0, np.nan) for k in xb}, nfe * max(members, 1),
            {k: 1.0 for k in xb})
