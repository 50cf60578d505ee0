"""Benchmark: what a run's records cost, in time and memory, and against another version.

The model is the tandem of ``against_simpy.py`` (an entry service calls four M/M/2
leaves at utilisation 0.8; nine spans per request), or with ``--case pipeline`` its
broker pipeline. Each measurement runs in a fresh
child process, so that its peak resident memory is its own:

* ``simulate``: ``world.run()``; ``plain``: the hand-written SimPy model, same network;
* ``tables``: building every table of the Result (``requests``, ``spans``, ... );
* ``peak run`` / ``peak all``: the child's peak resident memory after the run, and after
  the tables too.

``--against DIR`` measures another checkout of simlab (say, the commit before a change)
in the same rounds, interleaved, so that both see the same machine. Each figure is
reported as the range over the rounds.

Run:  python benchmarks/records.py [--requests 200000] [--rounds 3] [--against DIR]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import gc, json, resource, sys, time
sys.path.insert(0, {benchmarks!r})
import against_simpy as bench
import simlab as sl
assert sl.__file__.startswith({checkout!r}), sl.__file__

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

requests, seed = {requests}, {seed}
started = time.perf_counter()
bench.{plain}(requests, seed)
plain = time.perf_counter() - started
gc.collect()
world = bench.{case}_world(requests, seed)
started = time.perf_counter()
result = world.run()
simulate = time.perf_counter() - started
peak_run = peak_mb()
tables = {{}}
for name in sl.schema.TABLES:
    started = time.perf_counter()
    getattr(result, name)
    tables[name] = time.perf_counter() - started
print(json.dumps({{"plain": plain, "simulate": simulate, "tables": sum(tables.values()),
                  "end_to_end": simulate + sum(tables.values()),
                  "spans": tables["spans"], "peak_run": peak_run, "peak_all": peak_mb(),
                  "rows": len(result.spans)}}))
"""


PLAIN = {"tandem": "plain_simpy_model", "pipeline": "plain_simpy_pipeline"}


def measure(checkout, requests, seed, case="tandem"):
    """One measurement in a fresh interpreter that imports simlab from ``checkout``."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    code = CHILD.format(benchmarks=str(HERE), checkout=str(checkout), requests=requests,
                         seed=seed, case=case,
                         plain=PLAIN[case])
    # Run from the checkout: ``python -c`` puts the working directory first on the path,
    # ahead of PYTHONPATH, so run from elsewhere it would import that folder's simlab.
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, cwd=checkout)
    if done.returncode:
        raise SystemExit(f"the measurement of {checkout} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values, unit="", digits=2):
    """The range of ``values`` as text ("1.20-1.35x"), or the one value if all agree."""
    low, high = min(values), max(values)
    return f"{low:,.{digits}f}{unit}" if low == high else \
        f"{low:,.{digits}f}-{high:,.{digits}f}{unit}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", choices=sorted(PLAIN), default="tandem",
                        help="the network of against_simpy.py to run (default tandem)")
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another simlab checkout to measure in the same rounds")
    args = parser.parse_args()
    checkouts = {"this": HERE.parent, **{str(p): p.resolve() for p in args.against}}
    found = {name: [] for name in checkouts}
    for round_ in range(args.rounds):
        for name, checkout in checkouts.items():
            found[name].append(measure(checkout, args.requests, round_ + 1, args.case))
            m = found[name][-1]
            print(f"round {round_ + 1} {name}: simulate {m['simulate']:.2f} s, plain SimPy "
                  f"{m['plain']:.2f} s, tables {m['tables']:.2f} s, peak {m['peak_all']:.0f} MB",
                  flush=True)
    print(f"\n{args.case}, {args.requests:,} requests, {args.rounds} rounds "
          "(ranges over the rounds):")
    for name, runs in found.items():
        def ratio(a, b):
            return spread([r[a] / r[b] for r in runs])

        print(f"  {name}:")
        print(f"    simulation / plain SimPy   {ratio('simulate', 'plain')}x")
        print(f"    run and tables / plain     {ratio('end_to_end', 'plain')}x")
        print(f"    all tables / simulation    {ratio('tables', 'simulate')}x "
              f"(spans alone {ratio('spans', 'simulate')}x)")
        print(f"    peak memory: run {spread([r['peak_run'] for r in runs], ' MB', 0)}, "
              f"with all tables {spread([r['peak_all'] for r in runs], ' MB', 0)}; "
              f"{spread([r['peak_all'] * 2**20 / r['rows'] for r in runs], ' B', 0)} "
              "per span")
    if len(found) > 1:
        base = found["this"]
        for name, runs in found.items():
            if name == "this":
                continue
            print(f"  this / {name}, round by round:")
            for key in ("simulate", "tables", "end_to_end", "peak_all"):
                print(f"    {key:10s} {spread([a[key] / b[key] for a, b in zip(base, runs)])}x")


if __name__ == "__main__":
    main()
