"""Benchmark: what exporting a lesson's run costs, next to simulating it.

The run is the event-driven shop of the lessons (``sl.scenarios.shop(style="async")``,
50 orders/s for 60 s: about 36,000 spans). For each round it measures, in one process:

* ``simulate``: ``world.run()``;
* ``tables``: building the tables an export reads (``spans``, ``span_events``, ``logs``,
  ``queues``);
* one column per format: ``result.export(folder, formats=[name])``, choosing the records
  and writing the files (the first format also pays for the spans' attributes, so each
  format is measured on a fresh Result);
* ``all``: ``result.export(folder)``, every format at once, on a fresh Result.

Each figure is the best of the rounds, in CPU seconds of this process
(``time.process_time``, so that other work on a shared machine counts less); sizes are
in MB.

Run:  python benchmarks/export.py [--rounds 3] [--duration 60] [--style async]
"""

import argparse
import tempfile
import time
from pathlib import Path

import simlab as sl
from simlab.export import FORMATS


def measure(style, duration, folder):
    """One round: the seconds of each step, and the files' sizes."""
    world = sl.scenarios.shop(style=style, duration=duration)

    def fresh():  # a new Result with its tables built, so each export starts equal
        result = world.run(seed=1)
        for table in ("spans", "span_events", "logs", "queues"):
            getattr(result, table)
        return result

    seconds = {}
    started = time.process_time()
    result = world.run(seed=1)
    seconds["simulate"] = time.process_time() - started
    started = time.process_time()
    for table in ("spans", "span_events", "logs", "queues"):
        getattr(result, table)
    seconds["tables"] = time.process_time() - started
    sizes = {}
    for name in [*FORMATS, "all"]:
        result = fresh()
        started = time.process_time()
        paths = result.export(folder, formats=FORMATS if name == "all" else [name])
        seconds[name] = time.process_time() - started
        if name != "all":
            sizes[name] = sum(path.stat().st_size for path in paths) / 1e6
    return seconds, sizes, len(result.spans)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--style", choices=("sync", "async"), default="async")
    args = parser.parse_args()
    best, sizes = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            seconds, sizes, spans = measure(args.style, args.duration, Path(folder))
            for name, value in seconds.items():
                best[name] = min(best.get(name, value), value)
    print(f"shop ({args.style}), {args.duration:g} s of load, {spans:,} spans; "
          f"best of {args.rounds} rounds, CPU seconds")
    print("  ".join(f"{name:>9s}" for name in best))
    print("  ".join(f"{value:9.3f}" for value in best.values()))
    print("size (MB): " + ", ".join(f"{name} {mb:.1f}" for name, mb in sizes.items()))


if __name__ == "__main__":
    main()
