"""Soak test: the conservation laws on many random models under random faults.

The property test (``tests/test_conservation.py``) checks a few dozen models in CI; this
script checks as many as you like, one seed per model (``tests/random_models.py``
draws them), and prints what it saw and every law broken. It is not collected by
pytest. Run it before closing a change to the simulator:

    .venv/bin/python tests/soak/conservation.py --models 1000
    .venv/bin/python tests/soak/conservation.py --models 200 --first 5000   # other seeds

A broken law prints its seed; ``random_models.plan(random.Random(seed))`` rebuilds the
model. The exit status is 1 if any law was broken.
"""

import argparse
import collections
import random
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import random_models  # noqa: E402 (the line above makes it importable)

import simlab as sl  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000, help="how many (default 1000)")
    parser.add_argument("--first", type=int, default=0, help="seed of the first model")
    args = parser.parse_args()
    warnings.simplefilter("ignore", sl.SimlabWarning)  # faults past the stop or the load
    seen, broken = collections.Counter(), collections.Counter()
    started = time.perf_counter()
    for seed in range(args.first, args.first + args.models):
        plan = random_models.plan(random.Random(seed))
        result = random_models.build(plan).run(until=plan["until"])
        for violation in random_models.violations(result, plan):
            broken[violation.split(":")[0]] += 1
            print(f"seed {seed}: {violation}")
        seen["models"] += 1
        seen["stopped early"] += plan["until"] is not None
        seen["requests"] += len(result.requests)
        seen["messages"] += int((result.messages.event == "publish").sum())
        seen["faults"] += len(result.faults)
        logs = result.logs.message
        seen["held publishes lost in a crash"] += int(
            logs[logs.str.endswith("lost in the crash")].str.split().str[0].astype(int).sum())
        seen["outbox events"] += sum(len(result.writes[result.writes.key.map(
            lambda key, t=t: isinstance(key, tuple) and key[0] == t["name"]).astype(bool)])
            for t in plan["topics"] if t["way"] == "outbox")
        for outcome in result.requests.outcome:
            seen[f"request {outcome}"] += 1
    print(f"\n{seen['models']:,} models in {time.perf_counter() - started:.0f} s")
    for what, count in seen.items():
        if what != "models":
            print(f"  {what:32s}{count:>10,}")
    print(f"violations: {sum(broken.values())}" +
          "".join(f"\n  {law}: {count}" for law, count in broken.items()))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
