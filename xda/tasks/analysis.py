"""The solve of :func:`xda.assimilate`: plain arrays in working units on a grid with latitudes ascending,
prepared once by the task (:mod:`xda.labeled.io`) and written back once. Nothing here touches a labeled
array: each method of :data:`METHODS` takes the :class:`~xda.tasks.request.Problem` of each variable at each of
one or more analysis times and the call's :class:`~xda.tasks.request.Request`, and returns an
:class:`~xda.tasks.request.Analysis` per variable and time."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from ..assimilation.anchor import oi_analyser, oi_analysis, std_grid
from ..assimilation.covariance import MIN_TUNE, BackgroundError, estimate
from ..assimilation.qc import quality_control, robust_prescreen
from ..assimilation.verify import Verification, Weight, cross_validation, weight_attrs
from ..errors import GridError, ModelError, ObservationError, XdaWarning, check_choice
from ..labeled.names import MEMBERS_ATTR, MEMBERS_DISTILLED_NOTE, RECENTRED_ATTR, RECENTRED_NOTE
from ..numerics import oi
from ..numerics.threads import map_in_threads
from ..numerics.ensemble import recentred_spread
from ..numerics.interp import apply
from .batching import Evaluation, last, send, together
from .request import Analysis, Problem, Request

#: The values of ``background_error=`` besides a :class:`~xda.assimilation.covariance.BackgroundError`.
BACKGROUND_ERRORS = ("tuned", "innovations", "model")


def by_time(problem_sets: list[dict], req: Request) -> list[tuple[dict, int]]:
    """OI, or the anchored learned analysis, of each variable (a variable the model does not know has
    ``Problem.method == "oi"``) of several analysis times at once: each variable's network evaluations of every
    time (the verification's folds and the posterior-mean heads, then the members) go through the network
    together (:func:`together`). Returns ({name: :class:`Analysis`}, network evaluations) per time."""
    solvers, where = [], []
    for t, problems in enumerate(problem_sets):
        for name, p in problems.items():
            r = req if p.method == req.method else replace(req, method=p.method, members=1)
            solvers.append(_solving(p, r))
            where.append((t, name))
    results, nfes = [{} for _ in problem_sets], [0] * len(problem_sets)
    evaluate = lambda p, cases, members: _learned_departure(req, p, cases, members)  # noqa: E731
    for (t, name), (analysis, nfe) in zip(where, together(solvers, evaluate, req.workers)):
        results[t][name] = analysis
        nfes[t] += nfe
    return list(zip(results, nfes))


def _solving(p: Problem, req: Request):
    """One variable: background check, ``B``, OI and (method ``"xda"``) the learned correction. A generator of
    :class:`Evaluation` (see :func:`together`) returning (:class:`Analysis`, network evaluations)."""
    ob, xb = p.ob, p.xb
    if ob.n == 0:
        raise ObservationError(f"no usable observations of {p.name!r} ({ob.dropped}); nothing to assimilate")
    be, used, report = _checked(req, p)
    # the learned analysis verifies itself on folds of the observations: their analyser gives the OI of all of
    # them too, from the same factorisation (a second dense solve would cost as much again at 10 % observed)
    verified = req.method == "xda" and req.verify and _outside_range(req.card, p.name, p.grid) is None
    analyser = oi_analyser(xb, used, be, p.grid) if verified else None
    (xa, sa), nfe = (analyser(used) if verified
                     else oi_analysis(xb, used.value - apply(used.operator, xb), used, be, p.grid)), 0
    how = "OI's, exact for its B and R"
    attrs = dict(_analysis_attrs(req.method, report["n_obs"], report["rejected"], be, p.units),
                 xda_oi_solver=oi.solver(report["n_obs"]), **{f"xda_n_obs_{k}": v for k, v in ob.dropped.items()})
    if req.method == "xda":
        xa, sa, nfe, v, how = yield from _learned_or_anchor(req, p._replace(ob=used), xb, be, xa[0], sa, how, analyser)
        attrs.update(_weight_attrs(v))
        if req.members > 1 and v.members != "pointwise":
            attrs.update({RECENTRED_ATTR: RECENTRED_NOTE} if v.members == "recentred" else {MEMBERS_ATTR: MEMBERS_DISTILLED_NOTE})
    return Analysis(xa, sa, how, attrs, report), nfe


def _analyse_joint(problems: dict, req: Request):
    """All variables of a joint model's state at once (:mod:`xda.tasks.assimilate_joint`). A generator (see
    :func:`together`) returning ({name: :class:`Analysis`}, network evaluations)."""
    from .assimilate_joint import analyse_joint

    card = req.card
    by_key = {p.key: p for p in problems.values()}
    xb, obs, bes, reports = {k: p.xb for k, p in by_key.items()}, {}, {}, {}
    observed = [key for key, p in by_key.items() if p.ob is not None and p.ob.n > 0]
    for key, (be, ob, report) in zip(observed, map_in_threads(lambda k: _checked(req, by_key[k]), observed, req.workers)):
        bes[key], obs[key], reports[key] = be, ob, report
    grid = next(iter(problems.values())).grid
    why = _outside_range(card, ", ".join(repr(p.name) for p in problems.values()), grid)
    if why is not None:
        warnings.warn(XdaWarning(f"{why}: the analysis is the classical multivariate anchor "
                                 "(xda_correction_weight = 0)"), stacklevel=4)
    priors = {k: BackgroundError.from_prior(p.prior) for k, p in by_key.items()}
    analysis, sa, weights, nfe, spreads = yield from analyse_joint(req, xb, obs, bes, priors, grid, anchor_only=why is not None)
    recentred = req.members > 1 and why is None and req.latent_optimization is None
    results = {}
    for key, p in by_key.items():
        report = reports.get(key, dict(n_obs=0, rejected=0, dropped={}))
        be = bes.get(key) or priors[key]
        attrs = dict(_analysis_attrs("xda", report["n_obs"], report["rejected"], be, p.units), **weight_attrs(weights[key]),
                     xda_spread_scale=round(spreads[key], 4), **{f"xda_n_obs_{k}": v for k, v in report["dropped"].items()})
        if recentred:
            attrs[RECENTRED_ATTR] = RECENTRED_NOTE
        attrs["xda_joint_state"] = list(card["variables"])
        how = "the multivariate anchor's (OI, or s_b where unobserved)" + (
            f" times {spreads[key]:.3g}, to fit withheld observations" if spreads[key] != 1.0 else "")
        results[p.name] = Analysis(analysis[key], sa[key], how, attrs, report)
    return results, nfe


def _checked(req: Request, p: Problem):
    """B, the observations that pass QC and the report of one observed variable (n_obs, rejected, dropped, and the
    ``checks`` of its observation-space table)."""
    ob = p.ob
    d = ob.value - apply(ob.operator, p.xb)
    pre = robust_prescreen(d, ob.error)
    be = _background_error(req, p, d, pre)
    ok = quality_control(d, be.std_at(ob.lat, ob.lon), ob, pre, req.qc, p.name, p.units)
    return be, ob.subset(ok), dict(n_obs=int(ok.sum()), rejected=int((~ok).sum()), dropped=ob.dropped, checks=(ob, pre, ok))


def _joint_by_time(problem_sets: list[dict], req: Request) -> list[tuple[dict, int]]:
    """:func:`_analyse_joint` of several analysis times at once: the folds and heads of every time go through the
    network together, then the members (:func:`together`). Returns ({name: :class:`Analysis`}, network
    evaluations) per time."""
    from .assimilate_joint import departures

    grid = next(iter(problem_sets[0].values())).grid  # every time of one call is on the background's grid
    return together([_analyse_joint(problems, req) for problems in problem_sets],
                    lambda _, cases, members: departures(req, cases, grid, members), req.workers)


#: The analysis methods, one protocol: ``solve(problem_sets, request) -> [({name: Analysis}, network evaluations),
#: ...]``, one per analysis time, on plain arrays (each of ``problem_sets``: {background variable: :class:`Problem`}).
#: Keyed by ``method="oi"`` or, for ``method="xda"``, the model's architecture (:data:`xda.models.cards.ARCHITECTURES`).
METHODS = {"oi": by_time, "anchored": by_time, "joint": _joint_by_time, "latent": _joint_by_time}


def _learned_departure(req: Request, p: Problem, cases: list, members: int):
    """The anchored model's ``u`` on the input grid and its evaluations per field.

    ``cases``: ``(x_b, s_b, x_a, s_a, observations)`` of one or more OI analyses of the
    variable ``p`` on its grid (the verification's folds, the analysis itself, and those of
    other times). ``members=0``: the posterior-mean head of every case, (len(cases), ny, nx);
    else ``members`` posterior samples of each case, (len(cases) * members, ny, nx), each case's
    noise drawn from its own generator of ``req.seed`` (the same members as alone); in batches
    (:func:`xda.models.anchored.in_batches`).
    Computed on a grid of the card's training spacing over the same domain
    (:func:`xda.models.anchored.working_grid`) and interpolated back.
    """
    import torch

    from ..models import anchored

    net, grid, device = req.net, p.grid, req.device
    entry, dtype = req.card["variables"][p.key], next(net.parameters()).dtype
    wg = anchored.working_grid(req.card, grid.lat, grid.lon, grid.periodic, p.name)
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
    sin_lat = t(np.sin(np.deg2rad(wg.wlat)))
    conds = [anchored.anchored_condition(t(anchored.network_fields(entry, wg, xb, xa, sa, sb, ob.lat, ob.lon,
                                                                   ob.value - apply(ob.operator, xa), ob.error)[None]),
                                         sin_lat, grid.periodic) for xb, sb, xa, sa, ob in cases]
    u, nfe = anchored.in_batches(net, conds, entry["index"], grid.periodic, members, steps=req.steps, seed=req.seed)
    return wg.from_work(u[:, 0]), nfe


def _learned_analysis(req: Request, p: Problem, xb, be, xa, sa, analyser=None):
    """``x_a + s_a (w m + k c (u_k - u_bar))``: OI plus the learned correction ``m`` (the posterior-mean head)
    weighted by ``w``, and for members the sampler's spread about its own mean, ``c = sqrt(N / (N - 1))``,
    scaled by ``k`` (:func:`xda.assimilation.verify.cross_validation`): the members are recentred on the head's
    estimate. With a mean head (:class:`xda.models.anchored.AnchoredDenoiser`), ``x_a + s_a (w m + k (u_k -
    u_m))``: the raw draws about the model's estimate ``u_m`` of their mean, not recentred. The verification's
    folds and the head go through the network in one :class:`Evaluation`.

    ``analyser``: :func:`xda.assimilation.anchor.oi_analyser` of ``p.ob`` where it was made already.

    A generator (see :func:`together`) returning (analysis (members, ny, nx), network evaluations in all,
    :class:`Verification`).
    """
    sb, members = std_grid(be, p.grid.lat, p.grid.lon), req.members
    if req.verify:
        verification = cross_validation(xb, p.ob, be, p.grid, analyser, req.workers)
        folds, v = send(verification)  # no folds (and the weight 0) below MIN_VERIFY observations
    else:
        folds, v = None, Verification(Weight(1.0, np.nan, 1.0, np.nan), 1.0, 0)
    u, nfe = yield Evaluation(p, [(xb, sb, *case) for case in folds or []] + [(xb, sb, xa, sa, p.ob)])
    if folds:
        v = last(verification, u[:-1])
    u = v.weight.weight * u[-1]
    if members > 1:
        samples, nfe_s = yield Evaluation(p, [(xb, sb, xa, sa, p.ob)], members)
        from ..models.anchored import has_mean_head  # torch is loaded: the network ran

        if has_mean_head(req.net):  # raw draws less the model's estimate of their mean
            spread, v = samples, v._replace(members="raw")
        else:  # recentred on the posterior mean (as EnVar recentres an ensemble on its control analysis): the
            # sampler gives the spread, whose variance is kept unbiased by sqrt(N / (N - 1))
            spread = recentred_spread(samples)
        u, nfe = u + v.spread * spread, nfe + members * nfe_s
    return xa[None] + sa[None] * u, nfe + v.evaluations, v


def _outside_range(card: dict, name: str, grid) -> str | None:
    """Why the learned model cannot analyse ``name`` on ``grid`` (the grid's spacing or size), or None."""
    from ..models import anchored

    try:
        anchored.working_grid(card, grid.lat, grid.lon, grid.periodic, name)
    except GridError as e:  # the reason, without the error's advice to regrid (the caller answers instead)
        return str(e).split("; regrid")[0].split("; use method=")[0]
    return None


def _learned_or_anchor(req: Request, p: Problem, xb, be, xa, sa, how: str, analyser=None):
    """The learned analysis, or the OI anchor with an :class:`~xda.errors.XdaWarning` where the model cannot
    analyse this grid (its spacing or size is outside the card's range): a valid input always gets an answer.

    A generator (see :func:`together`) returning (analysis (members, ny, nx), error std, evaluations,
    :class:`Verification` or None, how the std was had).
    """
    why = _outside_range(req.card, p.name, p.grid)
    if why is not None:
        warnings.warn(XdaWarning(f"{why}: the analysis of {p.name!r} is the OI analysis "
                                 "(xda_correction_weight = 0)" + ("; its members are OI's posterior point by point "
                                                                  "(x_a + s_a z, no spatial correlation)" if req.members > 1 else "")),
                      stacklevel=4)
        v = Verification(Weight(0.0, np.inf, 0.0, np.inf), 1.0, 0, members="pointwise")
        return (oi.pointwise_members(xa, sa, req.members, req.seed) if req.members > 1 else xa[None]), sa, 0, v, how
    xa, nfe, v = yield from _learned_analysis(req, p, xb, be, xa, sa, analyser)
    if v.spread != 1.0:
        how = f"OI's times {v.spread:.3g}, to fit withheld observations"
    return xa, sa * v.spread, nfe, v, how


def _weight_attrs(v: Verification) -> dict:
    """The verification's weight, its standard error and the spread scale, as attrs."""
    return dict(weight_attrs(v.weight), xda_spread_scale=round(v.spread, 4))


def _background_error(req: Request, p: Problem, d, pre) -> BackgroundError:
    """B statistics: given, empirical Bayes on the observations (default), from the innovations
    (Hollingsworth-Lonnberg) or from the model card (asked for by name only: the card's B is the
    training simulation's, right for that world's OSSE and not for real data).
    """
    spec, name, key, card, ob, prior = req.background_error, p.name, p.key, req.card, p.ob, p.prior
    be = spec.get(name) if isinstance(spec, dict) else spec
    if be is None:
        be = "tuned"
    if isinstance(be, BackgroundError):
        return be
    if not isinstance(be, str) or be not in BACKGROUND_ERRORS:
        check_choice(f"background_error (for {name!r})", be, BACKGROUND_ERRORS,
                     fix="or pass an xda.BackgroundError (e.g. BackgroundError.from_archive(backgrounds, truths, obs))")
    if be == "model":
        if key is None:
            raise ModelError(f"no model statistics for {name!r}; use background_error='tuned' or a BackgroundError")
        return BackgroundError.from_card(card["variables"][key])
    if be == "innovations":
        return BackgroundError.from_innovations(d[pre], ob.lat[pre], ob.lon[pre], ob.error[pre])
    n = int(pre.sum())
    if n < MIN_TUNE and (prior is None or not np.isfinite(prior.sd_log_sigma)):
        warnings.warn(XdaWarning(
            f"{n} observation(s) of {name!r} and no prior on its background-error std s_b (no bundled archive of its "
            f"standard name; the generic prior sets L only): s_b is guessed from {n} innovation(s) and may be far off; pass "
            f"`background_error={{{name!r}: xda.BackgroundError.constant(s_b, L)}}` with your background's error"),
            stacklevel=4)
    return estimate(d[pre], ob.lat[pre], ob.lon[pre], ob.error[pre], prior=prior)


def _analysis_attrs(method: str, n_obs: int, n_rejected: int, be: BackgroundError, units: str) -> dict:
    """Per-variable provenance: the method, the observation counts and ``B``."""
    return dict(xda_method=method, xda_n_obs=n_obs, xda_n_obs_rejected=n_rejected,
                xda_background_error=f"{be.source}; L = {be.length_scale / 1e3:.0f} km; "
                                     f"s_b = {float(np.min(be.sigma)):.3g}..{float(np.max(be.sigma)):.3g} {units}")
