"""Benchmark: simlab (full telemetry) against a hand-written SimPy model of the same network.

Scenario: an entry service with no work and unlimited workers calls four leaf services
one after another; each leaf is an M/M/2 station at utilisation 0.8. That is a Jackson
tandem, so both models' mean sojourn time is also checked against theory.

Both models run side by side in one process, alternately, REPEATS times each; the best
time of each is compared (the least disturbed by other work on a shared machine).

Run:  python benchmarks/tandem.py [--requests 200000] [--repeats 3]
"""

import argparse
import gc
import random
import statistics
import time

import simpy

import simlab as sl
from simlab.theory import tandem_sojourn

RATE = 100.0                 # requests per second
WORKERS = 2                  # per leaf station
UTILISATION = 0.8
MEAN_WORK = WORKERS * UTILISATION / RATE   # seconds, so that rho = 0.8
LEAVES = ("a", "b", "c", "d")


def simlab_model(requests, seed):
    world = sl.World(seed=seed, sample_every=10.0)
    entry = world.service("entry", workers=None)
    for name in LEAVES:
        leaf = world.service(name, workers=WORKERS, work=sl.Exp(mean=MEAN_WORK))

        @leaf.endpoint("work")
        def work(ctx, payload):
            yield ctx.work()

    @entry.endpoint("go")
    def go(ctx, payload):
        for name in LEAVES:
            yield ctx.call(name, "work", payload)

    world.load(sl.Poisson(rate=RATE), target=("entry", "go"), duration=requests / RATE)
    started = time.perf_counter()
    result = world.run()
    elapsed = time.perf_counter() - started
    records = result._records
    latencies = [r[6] - r[5] for r in records.requests if r[7] == "ok"]
    return elapsed, len(latencies), statistics.fmean(latencies), len(records.spans)


def plain_simpy_model(requests, seed):
    env = simpy.Environment()
    rng = random.Random(seed)
    stations = [simpy.Resource(env, capacity=WORKERS) for _ in LEAVES]
    latencies = []
    duration = requests / RATE

    def request(env):
        start = env.now
        for station in stations:
            with station.request() as slot:
                yield slot
                yield env.timeout(rng.expovariate(1 / MEAN_WORK))
        latencies.append(env.now - start)

    def arrivals(env):
        while True:
            yield env.timeout(rng.expovariate(RATE))
            if env.now >= duration:
                return
            env.process(request(env))

    env.process(arrivals(env))
    started = time.perf_counter()
    env.run()
    elapsed = time.perf_counter() - started
    return elapsed, len(latencies), statistics.fmean(latencies), 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    theory = tandem_sojourn(RATE, [(1 / MEAN_WORK, WORKERS)] * len(LEAVES))
    best = {}
    for repeat in range(args.repeats):
        for name, model in (("plain SimPy", plain_simpy_model), ("simlab", simlab_model)):
            gc.collect()  # each model starts from a clean heap, free of the last one's records
            elapsed, done, mean, spans = model(args.requests, seed=repeat + 1)
            print(f"  {name:12s} run {repeat + 1}: {elapsed:6.2f} s  {done / elapsed:9,.0f} req/s"
                  f"  mean sojourn {mean * 1000:6.2f} ms  spans {spans:,}")
            best[name] = min(best.get(name, float("inf")), elapsed)
    print(f"\nJackson tandem, 4 x M/M/2 at rho={UTILISATION}: theory mean sojourn "
          f"{theory * 1000:.2f} ms")
    for name, elapsed in best.items():
        print(f"{name:12s} best {elapsed:6.2f} s  {args.requests / elapsed:9,.0f} req/s")
    ratio = best["simlab"] / best["plain SimPy"]
    print(f"simlab / plain SimPy time: {ratio:.2f}x  (floor 1.5x, goal 1.0x)")


if __name__ == "__main__":
    main()
