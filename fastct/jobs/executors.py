"""Where the stages run: threads of this process, local worker processes, or a Dask cluster.

Every executor runs chunks of jobs through :func:`fastct.jobs.stages.run_chunk`
and hands the results back to the calling thread; planning, the manifest and
the report stay in :mod:`fastct.jobs.run`, the same for all three.

* :class:`ThreadExecutor`: chunks on threads of this process. Decoding and
  encoding hold the GIL, so only compute (which releases it) overlaps; the
  choice for the GPU backend (one process owns the device) and small runs.
* :class:`ProcessExecutor`: chunks on worker processes, each with its share
  of the cores for its kernels. Decode, compute and encode all scale with
  the workers; the default for the CPU backend.
* :class:`DaskExecutor`: one task per chunk on a ``distributed`` client
  (:func:`local_cluster`, :func:`connect`); workers must see the same paths.

An executor's :meth:`~Executor.run` returns when every chunk is settled; on
``KeyboardInterrupt`` (Ctrl-C, or SIGTERM/SIGHUP turned into one by the
run) it stops its workers, reports what finished, and re-raises.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ..errors import InvalidArgumentError, install_hint
from .report import failed_result
from .stages import run_chunk

__all__ = ["DaskExecutor", "Executor", "ProcessExecutor", "ThreadExecutor", "connect", "cpu_count",
           "local_cluster", "make_executor"]


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def native_threads() -> int:
    """Threads of this process, native ones included (Linux); Python's own count elsewhere."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # pragma: no cover - not on Linux
        return threading.active_count()


def threads_settle_to(count: int, timeout: float = 0.2) -> bool:
    """Wait (up to ``timeout`` s) until this process has at most ``count`` native threads.

    A joined Python thread is done, but its native thread may still be on its
    way out for a moment: counted at once, it would look like a new pool.
    """
    deadline = time.monotonic() + timeout
    while native_threads() > count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


@contextlib.contextmanager
def one_kernel_thread():
    """CPU kernels run in the calling thread only, so no thread pool starts in this process."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _set_kernel_threads(n: int) -> None:
    """Give this worker's CPU kernels ``n`` threads (numba's count drives the CPU backend's pool)."""
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


class Executor:
    """Runs chunks of jobs; subclasses say where.

    Attributes
    ----------
    name : str
        ``threads``, ``processes`` or ``dask`` (shown in the report).
    workers : int
        Chunks run at once.
    """

    name = "executor"
    workers = 1

    def run(self, work, chunks, on_results) -> None:
        """Run every chunk; call ``on_results(list_of_FileResult)`` in this thread as each one finishes."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (idempotent)."""


def _refill(pending: dict, todo, limit: int, submit) -> None:
    """Keep up to ``limit`` chunks in flight: ``submit(chunk)`` gives a future, ``pending`` maps it to its chunk.

    A bounded window keeps every worker busy without reading far ahead of what is written.
    """
    while len(pending) < limit:
        chunk = next(todo, None)
        if chunk is None:
            return
        pending[submit(chunk)] = chunk


class ThreadExecutor(Executor):
    """Chunks on ``workers`` threads of this process; compute is serialised (each kernel uses every core).

    Examples
    --------
    >>> ThreadExecutor(2).workers
    2
    """

    name = "threads"

    def __init__(self, workers: int = 2):
        self.workers = int(workers)
        self._stop = threading.Event()

    def run(self, work, chunks, on_results) -> None:
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fastct-job")
        pending: dict = {}
        todo = iter(chunks)
        try:
            while True:
                _refill(pending, todo, 2 * self.workers, lambda c: pool.submit(run_chunk, work, c, stop=self._stop))
                if not pending:
                    break
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = pending.pop(fut)
                    try:
                        on_results(fut.result())
                    except Exception as exc:  # noqa: BLE001 - an engine fault: the chunk's files fail, not the run
                        on_results([failed_result(job.source, exc) for job in chunk])
        except KeyboardInterrupt:
            self._stop.set()  # running chunks stop between files; a write in progress finishes (atomic)
            pool.shutdown(wait=True, cancel_futures=True)
            for fut in pending:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    on_results(fut.result())
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------
# worker processes

_WORKER_WORK = None


def _worker_init(work, threads: int, sample=None, meta=None) -> None:  # pragma: no cover - in workers
    global _WORKER_WORK
    _WORKER_WORK = work
    # Ctrl-C reaches the whole process group: the parent alone decides, then stops the workers with
    # SIGTERM, which ends a worker at once (no Python handler: it may come twice, and a handler could
    # deadlock on a lock the interrupted code holds); the parent then removes their temporaries.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if getattr(work, "backend", "cpu") == "cpu":
        _set_kernel_threads(threads)
    if sample is not None:
        # every worker compiles or loads its kernels at start, all at once, while the others do too
        try:
            work.warm(sample, meta)
        except Exception:  # noqa: BLE001 - the file's own run reports any problem
            pass


def _worker_chunk(chunk, overwrite=False):  # pragma: no cover - runs in worker processes
    return run_chunk(_WORKER_WORK, chunk, overwrite=overwrite)


class ProcessExecutor(Executor):
    """Chunks on ``workers`` local processes with ``threads`` kernel threads each.

    On Linux the workers are forked from this process while it has no other
    thread, so they start in milliseconds with every module imported and the
    kernels it warmed loaded; otherwise they are spawned and each warms its
    kernels as it starts. A worker that dies (killed, out of
    memory) fails its chunk's files with that cause; the others go on in a
    fresh pool.

    Examples
    --------
    >>> ex = ProcessExecutor(2)
    >>> ex.workers, ex.threads >= 1
    (2, True)
    """

    name = "processes"

    def __init__(self, workers: int = 2, threads: int | None = None):
        self.workers = int(workers)
        self.threads = int(threads) if threads else max(1, cpu_count() // self.workers)
        self._pool = None

    def _start(self, work, sample=None, meta=None, fork: bool | None = None):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # Fork unless told otherwise (the run says so when warming the kernels started a thread pool):
        # as multiprocessing does by default on Linux; spawned workers re-import everything and each
        # load their own kernels, which costs seconds per worker.
        if fork is not False and "fork" in mp.get_all_start_methods():
            context, sample = mp.get_context("fork"), None  # the workers inherit what this process loaded
        else:
            context = mp.get_context("spawn")
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init,
                                   initargs=(work, self.threads, sample, meta))
        frozen = context.get_start_method() == "fork"
        if frozen:
            # Forked workers share this process's pages until they write to them; a garbage collection
            # in a worker would write to every inherited object. Frozen objects are never collected.
            gc.freeze()
        try:
            pool.submit(int)  # start the workers now (before this process starts threads of its own)
        finally:
            if frozen:
                gc.unfreeze()
        return pool

    def start(self, work, sample=None, meta=None, fork: bool | None = None) -> None:
        """Start the worker processes: forked (``fork`` True, or None and no other Python thread runs),
        inheriting what this process loaded, else spawned, each warming its kernels on ``sample`` first.

        The run calls this before it starts any thread of its own.
        """
        if self._pool is None:
            self._pool = self._start(work, sample, meta, fork)

    def wait_ready(self) -> None:
        """Return once the workers have started (and warmed)."""
        for fut in [self._pool.submit(int) for _ in range(self.workers)]:
            fut.result()

    def run(self, work, chunks, on_results) -> None:
        from concurrent.futures.process import BrokenProcessPool

        chunks = list(chunks)
        if not chunks:
            return
        self.start(work)
        pending: dict = {}
        todo = iter(chunks)
        try:
            while True:
                _refill(pending, todo, 2 * self.workers, lambda c: self._pool.submit(_worker_chunk, c))
                if not pending:
                    break
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                suspects = []
                for fut in done:
                    chunk = pending.pop(fut)
                    try:
                        on_results(fut.result())
                    except BrokenProcessPool:
                        suspects.append(chunk)
                    except Exception as exc:  # noqa: BLE001 - an engine fault: the chunk's files fail
                        on_results([failed_result(job.source, exc) for job in chunk])
                if suspects:
                    # A dead worker breaks the whole pool: every chunk in flight is a suspect.
                    suspects += list(pending.values())
                    pending.clear()
                    self._restart(work)
                    for chunk in suspects:
                        self._isolate(work, chunk, on_results)
        except KeyboardInterrupt:
            for fut in pending:
                fut.cancel()
            finished = [(f, c) for f, c in pending.items() if f.done() and not f.cancelled() and f.exception() is None]
            self._kill()  # SIGTERM ends the workers; the run then removes their temporaries
            for fut, _ in finished:
                on_results(fut.result())
            raise
        finally:
            self.close()

    def _restart(self, work) -> None:
        self._kill()
        # Spawned, not forked: by now this process runs threads (the pool's own, maybe kernel threads),
        # and a child forked beside them can inherit a held lock and die, failing a healthy file.
        # The kernels are in the disk cache: no warm-up sample needed.
        self._pool = self._start(work, fork=False)

    def _isolate(self, work, chunk, on_results) -> None:
        """Rerun a suspect chunk alone, then file by file, so only the file that kills a worker fails.

        A rerun replaces what its broken attempt may have written (outputs that existed before the
        run were refused or kept at planning, and the folder is locked).
        """
        from concurrent.futures.process import BrokenProcessPool

        try:
            on_results(self._pool.submit(_worker_chunk, chunk, True).result())
            return
        except BrokenProcessPool:
            self._restart(work)
        if len(chunk) > 1:
            for job in chunk:
                self._isolate(work, [job], on_results)
            return
        cause = RuntimeError(f"{chunk[0].source}: its worker process died (killed, or out of memory)")
        on_results([failed_result(chunk[0].source, cause)])

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # ProcessPoolExecutor has no public way to stop running tasks: signal its processes
        for proc in list(getattr(pool, "_processes", {}).values()):
            try:
                proc.terminate()
            except (OSError, AttributeError):
                pass
        pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------
# Dask


def _dask_chunk(work, chunk):
    """One Dask task: a chunk of jobs on a worker, kernel threads matched to the worker's share."""
    from ..dask_arrays import limit_numba_threads

    if getattr(work, "backend", "cpu") == "cpu":
        limit_numba_threads()
    # A task rerun after its worker died may find files its first attempt wrote (outputs that
    # existed before the run were refused or kept at planning, and the folder is locked): replace them.
    return run_chunk(work, chunk, overwrite=True)


class DaskExecutor(Executor):
    """One task per chunk on a Dask ``distributed`` client.

    A bad file is a failed result (its task does not raise, so it is never
    retried); a worker that dies has its tasks rerun elsewhere by the
    scheduler, and the rerun completes whatever the dead attempt wrote.

    Examples
    --------
    >>> client, cluster = connect("local:2")  # doctest: +SKIP
    >>> DaskExecutor(client).workers  # doctest: +SKIP
    2
    """

    name = "dask"

    def __init__(self, client):
        self.client = client
        try:
            self.workers = max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - informative only
            self.workers = 1

    def run(self, work, chunks, on_results) -> None:
        from distributed import as_completed

        chunks = list(chunks)
        futures = [self.client.submit(_dask_chunk, work, chunk, pure=False, retries=0,
                                      key=f"fastct-{i}-{os.getpid()}-{id(self)}-{chunk[0].source.name}")
                   for i, chunk in enumerate(chunks)]
        by_future = dict(zip(futures, chunks))
        try:
            for future in as_completed(futures):
                chunk = by_future[future]
                try:
                    on_results(future.result())
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated worker deaths
                    on_results([failed_result(job.source, exc) for job in chunk])
        except KeyboardInterrupt:
            self.client.cancel([f for f in futures if not f.done()])
            raise


def local_cluster(n_workers: int = 2, threads_per_worker: int = 1, **kwargs):
    """A ``distributed.LocalCluster`` of worker processes on 127.0.0.1 for fastct.

    Each worker process gets ``NUMBA_NUM_THREADS=threads_per_worker``, so N
    workers with T threads each start N x T kernel threads in all.

    Examples
    --------
    >>> cluster = local_cluster(1)  # doctest: +SKIP
    """
    from distributed import LocalCluster

    env = dict(kwargs.pop("env", {}) or {})
    env.setdefault("NUMBA_NUM_THREADS", str(threads_per_worker))
    kwargs.setdefault("host", "127.0.0.1")
    kwargs.setdefault("dashboard_address", ":0")  # any free port: never collide with another cluster
    kwargs.setdefault("processes", True)
    return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, env=env, **kwargs)


def connect(scheduler: str):
    """A ``distributed.Client`` for ``local:N`` (a local cluster of N processes) or a scheduler address.

    Returns ``(client, cluster)``; ``cluster`` is None for an address (the
    caller closes both).

    Examples
    --------
    >>> client, cluster = connect("local:2")  # doctest: +SKIP
    >>> connect("local:0")
    Traceback (most recent call last):
    ...
    fastct.errors.InvalidArgumentError: scheduler: expected local:N with N >= 1 workers, got 'local:0'
    """
    if scheduler.startswith("local:"):
        count = scheduler.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise InvalidArgumentError(f"scheduler: expected local:N with N >= 1 workers, got {scheduler!r}")
    elif "://" not in scheduler:
        raise InvalidArgumentError(f"scheduler: expected local:N or an address like tcp://host:8786, got {scheduler!r}")
    try:
        from distributed import Client
    except ImportError as exc:
        raise InvalidArgumentError(
            "scheduler: Dask's distributed package is needed: " + install_hint("distributed")
        ) from exc
    if scheduler.startswith("local:"):
        cluster = local_cluster(int(scheduler.split(":", 1)[1]))
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="20s"), None
    except OSError as exc:
        raise InvalidArgumentError(f"scheduler: cannot reach {scheduler}: {exc}") from exc


def make_executor(executor="auto", workers: int | None = None, *, backend: str = "cpu", client=None,
                  n_jobs: int = 0) -> Executor:
    """The executor for a run.

    Parameters
    ----------
    executor : {"auto", "threads", "processes", "dask"} or Executor
        ``auto``: Dask when a ``client`` is given; worker processes for the
        CPU backend when there are at least two cores and enough files to
        repay their start; threads otherwise (GPU: one process owns the device).
    workers : int, optional
        Threads or processes (default: the cores, for processes; 2 to 8 threads).
    backend : str
        The resolved backend.
    client : distributed.Client, optional
    n_jobs : int
        How many jobs the run has.

    Examples
    --------
    >>> make_executor("threads", 3).name, make_executor("auto", backend="gpu", n_jobs=100).name
    ('threads', 'threads')
    """
    if isinstance(executor, Executor):
        return executor
    if executor not in ("auto", "threads", "processes", "dask"):
        raise InvalidArgumentError(f"executor: expected auto, threads, processes or dask, got {executor!r}")
    if workers is not None and int(workers) < 1:
        raise InvalidArgumentError(f"workers: expected >= 1, got {workers}")
    if executor == "dask" or (executor == "auto" and client is not None):
        if client is None:
            raise InvalidArgumentError("client: the dask executor needs a distributed.Client (see connect())")
        return DaskExecutor(client)
    cores = cpu_count()
    if executor == "auto":
        executor = "processes" if backend == "cpu" and cores >= 2 and n_jobs >= 8 * cores else "threads"
    if executor == "processes":
        return ProcessExecutor(workers or cores)
    return ThreadExecutor(workers or max(2, min(8, cores)))
