"""Sweeps: every combination of parameters, times every seed, one run each, on any executor.

A class explores a design by sweeping it: 30 seeds x 10 load levels x 4 designs is 1,200
runs. Each run is independent, so they can run side by side: in other processes on this
machine, or on a Dask cluster. The result is the same, bit for bit, whichever executor
runs it and in whatever order the runs finish: each run's seed is its row's seed, and
each row lands in its own place.

Example:
    >>> from simlab.scenarios import shop
    >>> def build(style, rate):
    ...     return shop(style, rate=rate, duration=20)
    >>> swept = sweep(build, grid={"style": ["sync", "async"], "rate": [20, 40, 60]},
    ...               seeds=range(1, 11), executor=2)          # doctest: +SKIP
    >>> swept.runs      # one row per (style, rate, seed)        # doctest: +SKIP
    >>> swept.means()   # one row per (style, rate), 95 % CIs    # doctest: +SKIP

Executors:
    * ``None``: one run after another, here (best for a few quick runs).
    * a number ``n``: a pool of ``n`` processes on this machine, started for the sweep.
    * any ``concurrent.futures.Executor``, e.g. ``ProcessPoolExecutor(4)``, or a Dask
      cluster's: ``distributed.Client("tcp://scheduler:8786").get_executor()``.

How a builder written in a notebook reaches another process: ``build`` (and a
``metrics`` function) are serialised with cloudpickle, which sends a function by value,
with the variables it uses, so lambdas and closures travel too. One that cannot be
sent (it holds an open file, a lock, a running world) is refused before any run starts.
"""

import functools
import itertools
import multiprocessing
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import cloudpickle
import pandas as pd

from . import checks
from .errors import ModelError, SimlabError
from .intervals import mean_ci
from .results import SUMMARY


@dataclass(frozen=True)
class Swept:
    """What ``sweep`` returns.

    Attributes:
        runs: one row per parameter set and seed: the parameters, ``seed``, the metrics,
            and ``error`` (the message of a run that failed, else '').
        parameters: the names of the grid's parameters, in order.
    """

    runs: pd.DataFrame
    parameters: tuple

    def means(self):
        """Per parameter set: the mean and 95 % CI half-width of every metric over its
        successful runs (columns ``(metric, "mean")``, ``(metric, "ci95")``), and how
        many runs there were and how many failed."""
        metrics = [c for c in self.runs.columns
                   if c not in (*self.parameters, "seed", "error")]
        groups = (self.runs.groupby(list(self.parameters), sort=False, dropna=False)
                  if self.parameters else [((), self.runs)])
        rows, index = [], []
        for key, runs in groups:
            ok = runs[runs.error == ""]
            row = {("runs", ""): len(runs), ("failed", ""): len(runs) - len(ok)}
            for metric in metrics:
                row[(metric, "mean")], row[(metric, "ci95")] = mean_ci(
                    pd.to_numeric(ok[metric], errors="coerce").astype(float))
            rows.append(row)
            index.append(key)
        table = pd.DataFrame(rows)
        table.columns = pd.MultiIndex.from_tuples(table.columns)
        keys = [key if isinstance(key, tuple) else (key,) for key in index]
        if len(self.parameters) == 1:
            table.index = pd.Index([key[0] for key in keys], name=self.parameters[0])
        elif self.parameters:
            table.index = pd.MultiIndex.from_tuples(keys, names=self.parameters)
        return table


def sweep(build, grid=None, seeds=range(1, 6), metrics=None, executor=None, progress=None,
          errors="keep"):
    """Run ``build(**parameters)`` for every combination in ``grid`` and every seed.

    Args:
        build: a function of the grid's parameters (by name) that returns a ``World``.
        grid: ``{name: [values]}``; every combination is one parameter set. None or
            ``{}``: one parameter set, no parameters.
        seeds: the replications. Every parameter set runs on the same seeds (common random
            numbers: the designs meet the same customers, so their differences are sharper).
        metrics: None for every column of ``Result.summary()``; a list of those names; or a
            function ``metrics(result)`` returning a dict (or Series) of numbers.
        executor: None (here, one after another), a number of processes, or any
            ``concurrent.futures.Executor`` (a Dask cluster's included).
        progress: a progress bar (``tqdm``: a widget in notebooks, text in a terminal).
            None shows it once the sweep has taken a second; False never.
        errors: "keep" reports a run's ``SimlabError`` (a refused model, a run limit) in
            its row and goes on; "raise" raises it.

    Returns:
        A ``Swept``: ``.runs`` (one row per run) and ``.means()``.
    """
    names, combinations = _combinations(grid)
    seeds = checks.seeds("sweep", seeds)
    measure = _metric_function(metrics)
    if errors not in ("keep", "raise"):
        raise ModelError(f"sweep: errors must be 'keep' or 'raise', not {errors!r}")
    tasks = [(dict(zip(names, values)), seed) for values in combinations for seed in seeds]
    rows = _run_all(build, measure, tasks, executor, progress, keep=errors == "keep")
    runs = pd.DataFrame(rows, columns=_columns(names, rows))
    return Swept(runs=runs, parameters=tuple(names))


def _combinations(grid):
    grid = {} if grid is None else grid
    if not isinstance(grid, dict):
        raise ModelError(f"sweep: grid must be a dict {{name: [values]}}, not {grid!r}")
    for name, values in grid.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelError(f"sweep: grid parameter {name!r} must be a name, like 'rate'")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or \
                not list(values):
            raise ModelError(f"sweep: grid[{name!r}] must be a non-empty list of values, "
                             f"e.g. {name}=[10, 20, 40]; got {values!r}")
    return list(grid), list(itertools.product(*(list(v) for v in grid.values())))


def _metric_function(metrics):
    if callable(metrics):
        return metrics
    names = list(SUMMARY) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in SUMMARY]
    if unknown:
        raise ModelError(f"unknown metric {unknown[0]!r}; choose from {sorted(SUMMARY)}, "
                         "or pass a function metrics(result) -> dict")
    return functools.partial(_summary_metrics, tuple(names))


def _summary_metrics(names, result):
    summary = result.summary()
    return {name: summary[name] for name in names}


def _columns(names, rows):
    metrics = dict.fromkeys(key for row in rows for key in row
                            if key not in (*names, "seed", "error"))
    return [*names, "seed", *metrics, "error"]


def _run_all(build, measure, tasks, executor, progress, keep):
    bar = _progress_bar(len(tasks), progress)
    rows = [None] * len(tasks)
    try:
        if executor is None:
            for i, (parameters, seed) in enumerate(tasks):
                rows[i] = _run_one(build, measure, parameters, seed, keep)
                bar.update()
            return rows
        payload = _shippable(build, measure)
        pool, owned = _executor(executor)
        try:
            size = _chunk_size(len(tasks))
            futures = {pool.submit(_run_shipped, payload, tasks[i:i + size], keep): i
                       for i in range(0, len(tasks), size)}
            for future in as_completed(futures):
                done = future.result()
                first = futures[future]
                rows[first:first + len(done)] = done
                bar.update(len(done))
        finally:
            if owned:
                pool.shutdown(cancel_futures=True)
        return rows
    finally:
        bar.close()


def _run_one(build, measure, parameters, seed, keep):
    """One row of a sweep: build with ``parameters``, run with ``seed``, measure."""
    try:
        world = build(**parameters)
        if not hasattr(world, "run"):
            raise ModelError(f"sweep: {_name(build)}(**{parameters}) returned {world!r}, "
                             "not a World; return the world you built")
        row = dict(measure(world.run(seed=seed)))
        error = ""
    except SimlabError as failure:
        if not keep:
            raise
        row, error = {}, f"{type(failure).__name__}: {failure}"
    return {**parameters, "seed": seed, **row, "error": error}


@functools.lru_cache(maxsize=8)
def _unpickled(payload):
    return cloudpickle.loads(payload)


def _run_shipped(payload, tasks, keep):
    build, measure = _unpickled(payload)
    return [_run_one(build, measure, parameters, seed, keep) for parameters, seed in tasks]


def _chunk_size(runs):
    """Runs per task sent to an executor: a few, so that a big sweep is not thousands of
    tiny tasks (each costs the executor some bookkeeping), but enough tasks (about 50)
    to keep every worker busy to the end."""
    return max(1, min(8, runs // 50))


def _shippable(build, measure):
    try:
        return cloudpickle.dumps((build, measure))
    except Exception as error:  # noqa: BLE001 — pickling fails in many ways; name them all
        raise ModelError(f"sweep: {_name(build)} cannot be sent to another process "
                         f"({type(error).__name__}: {error}). Build everything inside the "
                         "function, or run with executor=None") from error


def _executor(executor):
    if isinstance(executor, Executor) or hasattr(executor, "submit"):
        return executor, False
    if isinstance(executor, int) and not isinstance(executor, bool) and executor >= 1:
        return ProcessPoolExecutor(max_workers=executor, mp_context=_process_start()), True
    raise ModelError(f"sweep: executor must be None, a number of processes (>= 1) or a "
                     f"concurrent.futures.Executor, not {executor!r}")


def _process_start():
    # fork starts fastest and, unlike the others, does not run a script's main module
    # again in every worker (no `if __name__ == "__main__":` needed). But a notebook's
    # kernel runs threads, and forking them can deadlock the child: there a fork server
    # starts the workers (a notebook has no main module to run again).
    if "ipykernel" not in sys.modules and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["simlab"])
    return context


def _progress_bar(total, progress):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="sweep", unit="run", disable=progress is False,
                delay=0 if progress else 1.0, leave=False)


def _name(function):
    return getattr(function, "__qualname__", repr(function))
