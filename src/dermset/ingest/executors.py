"""Where the per-file work runs: in process, on a local process pool, or on a Dask cluster.

All three offer the same ordered, bounded ``map``: results come back in input order, and at
most ``window`` files are in flight, so memory stays flat however many files a batch holds.
The same function (``prepare``) runs on each; on Dask the workers must see the input paths
(a shared file system) and have dermset installed.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

#: consecutive worker deaths after which the run stops (a crash loop is not a bad file)
MAX_CRASHES = 3


class WorkerError(RuntimeError):
    """The workers cannot run at all."""


class Executor:
    name = "inline"
    workers = 1

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], window: int = 0) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PoolExecutor(Executor):
    """A local process pool; a worker that dies (a decoder crash) costs only its file."""

    name = "process pool"

    def __init__(self, workers: int, on_crash: Callable[[Any], Any]):
        self.workers = workers
        self.on_crash = on_crash
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: the parent holds database connections and a progress thread, which a
        # plain fork would copy into the workers
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["dermset.ingest.prepare"])
        return ProcessPoolExecutor(self.workers, mp_context=ctx)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], window: int = 0) -> Iterator[Any]:
        # enough in flight that the workers keep going while the caller records a group
        window = max(window, 3 * self.workers)
        pending: deque[tuple[Any, Future]] = deque()
        source = iter(items)
        exhausted = False
        crashes = 0
        while True:
            while not exhausted and len(pending) < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, self._pool.submit(fn, item)))
            if not pending:
                return
            item, fut = pending.popleft()
            try:
                result = fut.result()
                crashes = 0
                yield result
            except BrokenProcessPool:
                crashes += 1
                if crashes > MAX_CRASHES:
                    raise WorkerError(
                        f"worker processes died {crashes} times in a row; "
                        "is the machine out of memory?"
                    ) from None
                yield self.on_crash(item)
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                resubmit = [it for it, _ in pending]
                pending.clear()
                for it in resubmit:
                    pending.append((it, self._pool.submit(fn, it)))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """The same pipeline on a Dask cluster (``tcp://host:8786``)."""

    name = "dask"

    def __init__(self, address: str):
        from distributed import Client

        self.client = Client(address, set_as_default=False)
        self.workers = max(1, sum(self.client.nthreads().values()))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], window: int = 0) -> Iterator[Any]:
        window = max(window, 3 * self.workers)
        pending: deque[Any] = deque()
        for item in items:
            pending.append(self.client.submit(fn, item, pure=False))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        self.client.close()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def make_executor(
    workers: int | None, dask_address: str | None, on_crash: Callable[[Any], Any]
) -> Executor:
    if dask_address:
        return DaskExecutor(dask_address)
    n = default_workers() if workers is None else workers
    if n <= 1:
        return Executor()
    return PoolExecutor(n, on_crash)
