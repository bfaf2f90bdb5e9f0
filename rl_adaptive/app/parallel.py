"""Run independent jobs in parallel: a local process pool (the default) or Ray tasks, one CPU each.

``rl-adaptive compare`` and the benchmark runner (``python -m benchmarks.rl run``) both go through
:func:`imap_jobs`, so ``--backend ray [--address ADDR]`` moves either onto a Ray cluster with nothing else changed:
the job's result comes back to this process, which writes what it writes locally.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Generator, Sequence
from typing import Any

__all__ = ["BACKENDS", "imap_jobs"]

#: The parallel backends: ``local`` (a spawn process pool, one fresh process per job) and ``ray``.
BACKENDS = ("local", "ray")


def imap_jobs(
    fn: Callable[[Any], Any],
    jobs: Sequence[Any],
    workers: int,
    backend: str = "local",
    address: str | None = None,
) -> Generator[Any, None, None]:
    """Yield ``fn(job)`` for every job, in the order they finish.

    ``fn`` must be importable by name (a module-level function), as both backends pickle it by reference.
    ``local``: ``workers`` processes. ``ray``: one task per job with ``num_cpus=1``, on the cluster at ``address``
    (``"auto"``, ``"ray://host:10001"``, ...) or, without one, on a local Ray with ``workers`` CPUs started and
    stopped here. Closing the generator early (Ctrl-C in the loop that consumes it) stops what is still running.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ValueError(f"address: only the ray backend connects to a cluster, got backend {backend!r}")
    if not jobs:
        return
    if backend == "local":
        yield from _local(fn, jobs, workers)
    else:
        yield from _ray(fn, jobs, workers, address)


def _local(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int) -> Generator[Any, None, None]:
    pool = mp.get_context("spawn").Pool(max(1, min(workers, len(jobs))), maxtasksperchild=1)
    try:
        yield from pool.imap_unordered(fn, jobs)
        pool.close()
    except BaseException:  # KeyboardInterrupt, or the consumer closed the generator
        pool.terminate()
        raise
    finally:
        pool.join()


def _ray(
    fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int, address: str | None
) -> Generator[Any, None, None]:
    try:
        import ray
    except ImportError:
        raise ModuleNotFoundError("the ray backend needs ray: pip install 'rl-adaptive[ray]'", name="ray") from None
    started = not ray.is_initialized()
    if started:
        # Local workers import this project's modules (benchmarks/ is not installed) from the current directory.
        path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)
        ray.init(
            address=address,
            num_cpus=None if address else max(1, workers),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
        )
    remote = ray.remote(num_cpus=1, max_calls=1)(fn)  # a fresh worker per job, as the local pool's
    pending = [remote.remote(job) for job in jobs]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
