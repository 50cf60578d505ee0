"""Benchmark: one sweep, run here one after another, on a process pool, and on Dask.

200 runs of lesson 01's shop (sync and async, 20 s of load at 50 orders/s, 100 seeds
each), measured side by side in one process: sequentially, on one worker process, on a
2-process pool, and on a 2-worker Dask LocalCluster (processes, on loopback). All must
give the same rows, bit for bit. Goal on a 2-core machine: a speed-up of at least 1.8x
for both parallel executors.

Sequentially, the runs share this process with the Dask scheduler's thread (a
LocalCluster's scheduler lives in the process that starts it), so the speed-up is also
given over one worker process, the fairer baseline. The Dask workers' statistical
profiler (a stack sample every 10 ms, for the dashboard) is switched off: it takes the
GIL from a CPU-bound simulation (about 10 % here); --profile keeps it.

Starting a pool or a cluster is timed apart: a lesson starts one once and sweeps many
times (pass the executor itself, not a number, to keep it).

Run:  python benchmarks/sweeps.py [--seeds 100] [--rounds 2]
"""

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import simlab as sl
from simlab.scenarios import shop


def build(style):
    return shop(style, rate=50, duration=20)


def timed(executor, seeds):
    started = time.perf_counter()
    swept = sl.sweep(build, grid={"style": ["sync", "async"]}, seeds=range(1, seeds + 1),
                     executor=executor, progress=False)
    return time.perf_counter() - started, swept.runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true",
                        help="keep the Dask workers' statistical profiler on (off by default)")
    args = parser.parse_args()
    import dask
    from distributed import Client, LocalCluster

    # A Dask worker samples its threads' stacks every 10 ms for its dashboard's profile:
    # GIL time taken from a CPU-bound simulation. The cluster's workers inherit this.
    dask.config.set({"distributed.worker.profile.enabled": args.profile,
                     # the workers' and the scheduler's resource monitors: less often
                     "distributed.admin.system-monitor.interval": "2s",
                     "distributed.worker.memory.monitor-interval": "1s"})

    started = time.perf_counter()
    pool = ProcessPoolExecutor(2)
    pool.submit(int).result()
    pool_start = time.perf_counter() - started
    one = ProcessPoolExecutor(1)
    started = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)
    dask_start = time.perf_counter() - started
    executors = {"sequential": None, "process pool (1)": one, "process pool (2)": pool,
                 "dask LocalCluster (2)": client.get_executor()}
    times = {name: [] for name in executors}
    reference = None
    try:
        for _ in range(args.rounds):          # interleaved: the same load on the machine
            for name, executor in executors.items():
                seconds, runs = timed(executor, args.seeds)
                times[name].append(seconds)
                reference = runs if reference is None else reference
                assert runs.equals(reference), f"{name} gave other rows"
    finally:
        client.close()
        cluster.close()
        pool.shutdown()
        one.shutdown()
    base, alone = min(times["sequential"]), min(times["process pool (1)"])
    print(f"{2 * args.seeds} runs; best of {args.rounds} rounds; all rows identical")
    print(f"{'':24s} {'time':>8s}   speed-up over sequential, over one process")
    for name, seconds in times.items():
        print(f"{name:24s} {min(seconds):6.2f} s   {base / min(seconds):4.2f}x  "
              f"{alone / min(seconds):4.2f}x")
    print(f"start-up, not included: process pool {pool_start:.2f} s, "
          f"Dask cluster {dask_start:.2f} s")


if __name__ == "__main__":
    main()
