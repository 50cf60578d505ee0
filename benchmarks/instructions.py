"""Benchmark: CPU instructions per request, counted by valgrind instead of timed.

On a shared machine a timing moves by 10-30 % from one run to the next, so a change
that saves 5 % cannot be seen by timing it. The number of instructions the processor
executes moves by a few per cent at most, so this counts them: valgrind's cachegrind
runs the model of ``against_simpy.py`` with N requests and with 3N, each in a fresh
process, and the difference divided by 2N is the instructions per request, start-up and
imports left out. The plain SimPy model of the same network is counted the same way.

Instructions are not time: a cache miss or a page fault costs time and no instruction,
and how many instructions a second the processor executes varies with the code. Use
this to compare two versions of simlab on the same model (``--against DIR``), or to see
where a few per cent go; the goals of the issue are ratios of time (``against_simpy.py``,
``records.py``). The counts are made in parallel, one per core: instructions do not
depend on what else runs.

Needs valgrind (Debian: ``apt-get install valgrind``). 2,000 requests take about a
minute a count on a 2-core machine.

Run:  python benchmarks/instructions.py [--case tandem|pipeline|all] [--requests 2000]
                                        [--rounds 1] [--against DIR ...]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from records import spread  # (this folder's records.py)

HERE = Path(__file__).resolve().parent

CHILD = """
import sys
sys.path.insert(0, {benchmarks!r})
import against_simpy as bench
import simlab
assert simlab.__file__.startswith({checkout!r}), simlab.__file__
bench.{model}({requests}, {seed}){run}
"""

# The simlab model of each case, and the plain SimPy model of the same network.
MODELS = {"tandem": ("tandem_world", "plain_simpy_model"),
          "pipeline": ("pipeline_world", "plain_simpy_pipeline")}


def count(checkout, model, requests, seed, simlab):
    """The instructions a fresh interpreter executes to run ``model`` (a function of
    against_simpy.py) with ``requests`` requests, importing simlab from ``checkout``."""
    code = CHILD.format(benchmarks=str(HERE), checkout=str(checkout), model=model,
                         requests=requests, seed=seed, run=".run()" if simlab else "")
    # A fixed hash seed: the same dict and set layouts, hence the same instructions.
    # One BLAS thread: numpy's idle worker threads spin, and their instructions count.
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0",
               OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                           "--cachegrind-out-file=/dev/null", sys.executable, "-c", code],
                          env=env, cwd=checkout, capture_output=True, text=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode or not found:
        raise SystemExit(f"counting {model} in {checkout} failed:\n{done.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def per_request(checkout, model, requests, seed, simlab, pool):
    """Instructions per request: the counts of N and 3N requests, apart."""
    small, large = (pool.submit(count, checkout, model, n, seed, simlab)
                    for n in (requests, 3 * requests))
    return lambda: (large.result() - small.result()) / (2 * requests)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=[*MODELS, "all"], default="all")
    parser.add_argument("--requests", type=int, default=2000,
                        help="N: the counts are of N and of 3N requests (default 2000)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="counts with seeds 1, 2, ... (default 1)")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another simlab checkout to count the same way")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("this benchmark counts instructions with valgrind, which is not "
                         "installed; on Debian: apt-get install valgrind")
    cases = list(MODELS) if args.case == "all" else [args.case]
    checkouts = {"this": HERE.parent, **{str(p): p.resolve() for p in args.against}}
    seeds = range(1, args.rounds + 1)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        pending = {(case, name, seed): per_request(checkout, MODELS[case][0], args.requests,
                                                   seed, True, pool)
                   for case in cases for name, checkout in checkouts.items() for seed in seeds}
        pending.update({(case, "plain SimPy", seed): per_request(
            HERE.parent, MODELS[case][1], args.requests, seed, False, pool)
            for case in cases for seed in seeds})
        found = {key: result() for key, result in pending.items()}
    print(f"instructions per request ({args.requests:,} and {3 * args.requests:,} requests, "
          f"seeds {', '.join(map(str, seeds))}):")
    for case in cases:
        plain = [found[case, "plain SimPy", seed] for seed in seeds]
        print(f"  {case}:")
        print(f"    {'plain SimPy':12s} {spread(plain, digits=0)}")
        for name in checkouts:
            mine = [found[case, name, seed] for seed in seeds]
            print(f"    {name:12s} {spread(mine, digits=0)}   / plain SimPy "
                  f"{spread([m / p for m, p in zip(mine, plain)], 'x')}")
        for name in list(checkouts)[1:]:
            ratios = [found[case, "this", seed] / found[case, name, seed] for seed in seeds]
            print(f"    this / {name}: {spread(ratios, 'x', 3)}")


if __name__ == "__main__":
    main()
