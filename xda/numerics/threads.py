"""One thread policy for numba, BLAS/LAPACK and torch.

On shared machines the libraries' defaults hurt: their OpenMP pools spin at barriers
while another process holds a core, so a 500 x 500 Cholesky took 1.4 s instead of
14 ms and a warm 64 x 128 analysis 36 s instead of 5 s. The policy:

1. **Passive waiting.** ``OMP_WAIT_POLICY=PASSIVE`` and ``KMP_BLOCKTIME=0`` are set
   (unless the user set them) when xda is imported, before numba starts its OpenMP
   layer and before torch is imported (xda imports torch only when a learned model
   runs). Idle workers sleep instead of spinning.
2. **As many threads as cores actually available** to this process: the CPU affinity
   mask, capped by a cgroup CPU quota (containers), or ``XDA_NUM_THREADS``.
3. **Applied to all three pools** by :func:`set_num_threads`: numba, BLAS/LAPACK (via
   threadpoolctl) and torch (when imported). ``xda.set_num_threads(1)`` is the switch
   for a busy machine; the models' loader calls :func:`apply_to_torch`.

This module imports no torch; it configures torch only where torch is already loaded.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numpy as np

from ..errors import check_number

ENV = "XDA_NUM_THREADS"
_WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
_state: dict[str, int] = {}


def set_wait_policy() -> None:
    """Ask OpenMP runtimes not yet started to wait passively (user settings win)."""
    for key, value in _WAIT_ENV.items():
        os.environ.setdefault(key, value)


def available_cores() -> int:
    """Cores this process may use: the affinity mask, capped by a cgroup v2/v1 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    for path, parse in (("/sys/fs/cgroup/cpu.max", lambda s: s.split()),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", lambda s: [s.strip(), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")])):
        text = _read(path)
        if text:
            quota, period = parse(text)
            if quota not in ("max", "-1") and period:
                n = min(n, max(1, int(int(quota) // int(period))))
            break
    return max(1, n)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _thread_count(value, name: str, fix: str) -> int:
    """``value`` (an int, or its text) as a thread count >= 1; else :class:`ParameterError` naming ``name``."""
    with contextlib.suppress(ValueError):
        value = int(value.strip()) if isinstance(value, str) else value
    return check_number(name, value, minimum=1, integer=True, fix=fix)


def default_threads() -> int:
    """``XDA_NUM_THREADS`` when set, else :func:`available_cores`."""
    value = os.environ.get(ENV)
    if value:
        return _thread_count(value, ENV, f"set a number of threads, e.g. {ENV}=1, or unset it to use the "
                                         f"{available_cores()} available cores")
    return available_cores()


def num_threads() -> int:
    """The thread count in force (set by :func:`set_num_threads`, else the default)."""
    return _state.get("n") or default_threads()


def set_num_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default :func:`default_threads`) in numba, BLAS/LAPACK and torch.

    Returns
    -------
    int
        The number applied.

    Raises
    ------
    ParameterError
        If ``n`` (or ``$XDA_NUM_THREADS``) is not a whole number >= 1 (a ``ValueError``).
    """
    n = default_threads() if n is None else _thread_count(n, "n", "give a number of threads, e.g. xda.set_num_threads(1)")
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # optional: BLAS keeps its own default
        pass
    _state["n"] = n
    apply_to_torch()
    return n


def apply_to_torch() -> None:
    """Give torch the policy's thread count, if torch has been imported."""
    torch = sys.modules.get("torch")
    if torch is not None:
        n = num_threads()
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


#: Grids up to this many points are analysed on one thread (see :func:`for_analysis`).
SMALL_ANALYSIS = 100_000


def for_analysis(n_points: int) -> int:
    """Threads for one analysis of ``n_points`` grid points: the explicit setting, else 1 for small grids.

    Measured (``benchmarks/threads_busy.py``, 2 cores): the default 64 x 128 analysis
    (tuned OI, a 1.5 M-parameter network) takes 0.94 s on one thread and 1.85 s on two,
    0.98 s vs 2.56 s with another process busy: its BLAS calls and convolutions are too
    small to share. ``XDA_NUM_THREADS`` or :func:`set_num_threads` override this.
    """
    if _state.get("n") or os.environ.get(ENV):
        return num_threads()
    return 1 if n_points <= SMALL_ANALYSIS else num_threads()


def workers_for_analysis(n_points: int) -> int:
    """Python threads for the independent parts of analyses of ``n_points`` grid points (their variables, their
    times): the cores that :func:`for_analysis`'s BLAS threads leave, each thread on one core. Threads on
    separate analyses never wait for each other, so, unlike BLAS threads sharing one product, a busy machine
    slows them without the barriers' collapse measured there."""
    return max(1, num_threads() // for_analysis(n_points))


#: The name of xda's worker threads; a map inside one of them runs in it (the cores are taken already).
WORKER_PREFIX = "xda-worker"


def map_in_threads(fn, items, workers: int) -> list:
    """``[fn(x) for x in items]`` on up to ``workers`` threads where there is more than one item: the results in
    order, the first exception raised. Called from one of these threads (a time of a series whose parts would
    be split again), it runs in that thread."""
    items = list(items)
    if workers <= 1 or len(items) <= 1 or threading.current_thread().name.startswith(WORKER_PREFIX):
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix=WORKER_PREFIX) as pool:
        return list(pool.map(fn, items))


def split(n: int, workers: int) -> list[slice]:
    """``range(n)`` in ``workers`` contiguous slices of nearly equal length (fewer where ``n`` is smaller)."""
    edges = np.linspace(0, n, max(1, min(workers, n)) + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


@contextlib.contextmanager
def limited(n: int):
    """Run a block with ``n`` BLAS/LAPACK and torch threads, restoring both afterwards."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        from threadpoolctl import threadpool_limits

        ctx = threadpool_limits(n)
    except ImportError:
        ctx = contextlib.nullcontext()
    with ctx:
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield n
        finally:
            if torch is not None and sys.modules.get("torch") is torch:
                torch.set_num_threads(before)


def describe() -> str:
    """One line for benchmark headers: thread counts and wait policy in force."""
    import numba

    return (f"{num_threads()} threads (cores available {available_cores()}, numba {numba.get_num_threads()}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')})")
