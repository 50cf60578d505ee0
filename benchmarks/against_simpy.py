"""Benchmark: simlab (full telemetry) against hand-written SimPy models of the same networks.

Case "tandem" (synchronous): an entry service with no work and unlimited workers calls
four leaf services one after another; each leaf is an M/M/2 station at utilisation 0.8.
That is a Jackson tandem, so both models' mean sojourn is also checked against theory.

Case "pipeline" (asynchronous): a producer writes its store and publishes each request to
a topic with 4 partitions (random keys); a consumer group of 4 consumers applies each
message to a read model. Each partition is an M/M/1 queue at utilisation 0.8, so the
mean consistency lag is checked against 1 / (mu - lambda). The plain model is written
the idiomatic way, one process per request, as in the tandem case. (simlab runs a
request inline until its first wait, so here, where the producer answers at once, it
makes no process per request.) "pipeline-bare" compares with the leanest hand-written
model, whose arrival loop publishes directly: what simlab's ledgers, spans and store
lineage cost on top of the bare queueing.

Both models of a case run side by side in one process, alternately, REPEATS times each;
the best time of each is compared (the least disturbed by other work on a shared machine).

Run:  python benchmarks/against_simpy.py [--case tandem|pipeline|all] [--requests 200000]
"""

import argparse
import gc
import random
import statistics
import time

import simpy

import simlab as sl
from simlab.theory import mmc_sojourn, tandem_sojourn

RATE = 100.0                 # requests per second
WORKERS = 2                  # per leaf station
UTILISATION = 0.8
MEAN_WORK = WORKERS * UTILISATION / RATE   # seconds, so that rho = 0.8
LEAVES = ("a", "b", "c", "d")
MAX_RECORDS = 10**8          # keep every record of the long runs measured here


def tandem_world(requests, seed):
    world = sl.World(seed=seed, sample_every=10.0, max_records=MAX_RECORDS)
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
    return world


def simlab_model(requests, seed):
    world = tandem_world(requests, seed)
    started = time.perf_counter()
    result = world.run()
    elapsed = time.perf_counter() - started
    records = result._records  # the recorded columns: no table is built
    done = records.requests.columns
    latencies = [end - start for start, end, outcome
                 in zip(done["start"], done["end"], done["outcome"]) if outcome == "ok"]
    return elapsed, len(latencies), statistics.fmean(latencies), records.span_count()


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


PARTITIONS = 4
CONSUMER_WORK = UTILISATION * PARTITIONS / RATE   # seconds, so that rho = 0.8 per partition
KEYS = 1_000_000


def pipeline_world(requests, seed):
    world = sl.World(seed=seed, sample_every=10.0, max_records=MAX_RECORDS)
    producer = world.service("producer", workers=None)
    reader = world.service("reader", workers=PARTITIONS, work=sl.Exp(mean=CONSUMER_WORK))
    bus = world.broker("bus")
    bus.topic("events", partitions=PARTITIONS)

    @producer.endpoint("put")
    def put(ctx, payload):
        key = payload.id % KEYS  # ids hash to partitions at random: a Poisson split
        ctx.db.write(key, payload.id)
        ctx.publish(bus, "events", payload, key=key)
        yield ctx.work(0)

    @reader.consumer(bus, "events", view_of="producer")
    def apply(ctx, payload):
        yield ctx.work()
        ctx.db.write(payload.id % KEYS, payload.id)

    world.load(sl.Poisson(rate=RATE), target=("producer", "put"), duration=requests / RATE)
    return world


def simlab_pipeline(requests, seed):
    world = pipeline_world(requests, seed)
    started = time.perf_counter()
    result = world.run()
    elapsed = time.perf_counter() - started
    writes = result._records.writes.columns
    rows = list(zip(writes["time"], writes["service"], writes["key"]))
    written = {key: time for time, service, key in rows if service == "producer"}
    lags = [time - written[key] for time, service, key in rows if service == "reader"]
    return elapsed, len(lags), statistics.fmean(lags), result._records.span_count()


def plain_simpy_pipeline(requests, seed, bare=False):
    """Requests reach the producer, each as its own process (as the tandem's customers
    do, and as simlab handles them); with ``bare=True`` the arrival loop publishes
    directly, the leanest possible hand-written model."""
    env = simpy.Environment()
    rng = random.Random(seed)
    partitions = [simpy.Store(env) for _ in range(PARTITIONS)]
    source, view, lags = {}, {}, []
    duration = requests / RATE

    def produce(env, n):
        key = n % KEYS
        source[key] = env.now
        # A random partition: what hashing random keys amounts to (a Poisson split).
        yield partitions[rng.randrange(PARTITIONS)].put((key, n, env.now))

    def arrivals(env):
        n = 0
        while True:
            yield env.timeout(rng.expovariate(RATE))
            if env.now >= duration:
                return
            n += 1
            if bare:
                key = n % KEYS
                source[key] = env.now
                partitions[rng.randrange(PARTITIONS)].put((key, n, env.now))
            else:
                env.process(produce(env, n))

    def consumer(env, partition):
        while True:
            key, value, written = yield partition.get()
            yield env.timeout(rng.expovariate(1 / CONSUMER_WORK))
            view[key] = value
            lags.append(env.now - written)

    env.process(arrivals(env))
    for partition in partitions:
        env.process(consumer(env, partition))
    started = time.perf_counter()
    env.run()
    elapsed = time.perf_counter() - started
    return elapsed, len(lags), statistics.fmean(lags), 0


def bare_simpy_pipeline(requests, seed):
    return plain_simpy_pipeline(requests, seed, bare=True)


CASES = {
    "tandem": (plain_simpy_model, simlab_model, "mean sojourn",
               lambda: tandem_sojourn(RATE, [(1 / MEAN_WORK, WORKERS)] * len(LEAVES)),
               f"Jackson tandem, 4 x M/M/2 at rho={UTILISATION}"),
    "pipeline": (plain_simpy_pipeline, simlab_pipeline, "mean lag",
                 lambda: mmc_sojourn(RATE / PARTITIONS, 1 / CONSUMER_WORK, 1),
                 f"{PARTITIONS} partitions, each M/M/1 at rho={UTILISATION}"),
    # The same pipeline against the leanest hand-written model (no process per request),
    # for transparency: what simlab's request ledger and telemetry cost on top of it.
    "pipeline-bare": (bare_simpy_pipeline, simlab_pipeline, "mean lag",
                      lambda: mmc_sojourn(RATE / PARTITIONS, 1 / CONSUMER_WORK, 1),
                      f"{PARTITIONS} partitions; plain model without a process per request"),
}


#: The ratios simlab aims at (simlab / plain SimPy, the simulation alone).
GOALS = {"tandem": 0.8, "pipeline": 1.0}


def run_case(name, requests, repeats):
    plain, simlab, measure, theory, title = CASES[name]
    print(f"\n== {name}: {title}, {requests:,} requests")
    best = {}
    for repeat in range(repeats):
        for label, model in (("plain SimPy", plain), ("simlab", simlab)):
            gc.collect()  # each model starts from a clean heap, free of the last one's records
            elapsed, done, mean, spans = model(requests, seed=repeat + 1)
            print(f"  {label:12s} run {repeat + 1}: {elapsed:6.2f} s  {done / elapsed:9,.0f} req/s"
                  f"  {measure} {mean * 1000:6.2f} ms  spans {spans:,}")
            best[label] = min(best.get(label, float("inf")), elapsed)
    print(f"  theory {measure}: {theory() * 1000:.2f} ms")
    for label, elapsed in best.items():
        print(f"  {label:12s} best {elapsed:6.2f} s  {requests / elapsed:9,.0f} req/s")
    ratio = best["simlab"] / best["plain SimPy"]
    goal = f"  (goal {GOALS[name]}x)" if name in GOALS else ""
    print(f"  {name}: simlab / plain SimPy time = {ratio:.2f}x{goal}")
    return ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=(*CASES, "all"), default="all")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = list(CASES) if args.case == "all" else [args.case]
    ratios = {name: run_case(name, args.requests, args.repeats) for name in cases}
    print("\nratios: " + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items()))


if __name__ == "__main__":
    main()
