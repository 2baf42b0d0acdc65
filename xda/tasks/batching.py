"""Analyses written as generators that yield what they ask of the network (:class:`Evaluation`), so that the
asks of several analyses (the folds of a verification, several times) go through the network together
(:func:`together`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..numerics.threads import map_in_threads
from .request import Problem


class Evaluation(NamedTuple):
    """What an analysis asks of the network, as a generator yields it (:func:`together`): the
    posterior-mean head of each case (``members=0``) or ``members`` samples of each. A case is
    ``(x_b, s_b, x_a, s_a, observations)`` of the variable ``problem`` (the anchored model), or, with ``problem``
    None, ``(x_b, anchor, observations)`` of a joint state (:mod:`xda.tasks.assimilate_joint`)."""

    problem: Problem | None
    cases: list
    members: int = 0


def together(solvers: list, evaluate, workers: int = 1) -> list:
    """Run generators that yield :class:`Evaluation` and are sent ``(u, evaluations per field)``,
    side by side: in each round, what they ask of one variable's network (the heads, or as many members) is
    evaluated together by ``evaluate(problem, cases, members) -> (u, evaluations per field)``, ``u`` stacked
    along its first axis case by case (members of a case in a row). Returns each generator's return value.

    The generators' first steps (each analysis's classical part: B, quality control, OI, the verification's
    folds) are independent, and run on ``workers`` threads (:func:`xda.numerics.threads.map_in_threads`).
    """
    results, pending = [None] * len(solvers), {}

    def advance(i: int, outcome) -> None:
        ask, result = outcome
        if ask is not None:
            pending[i] = ask
        else:
            results[i] = result
            pending.pop(i, None)

    for i, outcome in enumerate(map_in_threads(send, solvers, workers)):
        advance(i, outcome)
    while pending:
        groups: dict = {}
        for i, ev in pending.items():
            groups.setdefault((ev.problem and (ev.problem.name, ev.problem.key), ev.members), []).append(i)
        for (_, members), ids in groups.items():
            asks = [pending[i] for i in ids]
            u, nfe = evaluate(asks[0].problem, [c for ev in asks for c in ev.cases], members)
            for i, part in zip(ids, np.split(u, np.cumsum([len(ev.cases) * max(members, 1) for ev in asks])[:-1])):
                advance(i, send(solvers[i], (part, nfe)))
    return results


def send(steps, value=None):
    """(what a generator yields next, sent ``value``, None), or (None, what it returns) when it returns instead; a
    fresh generator is sent None (its first step)."""
    try:
        return steps.send(value), None
    except StopIteration as done:
        return None, done.value


def last(steps, value):
    """What a generator returns once sent ``value`` (it must not yield again)."""
    try:
        steps.send(value)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the generator yielded again")  # pragma: no cover (a bug in the caller's protocol)
