"""Sweeps: the same rows, bit for bit, on any executor; failures stay in their row."""

import threading

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

import simlab as sl
from simlab.experiments import mean_ci
from simlab.scenarios import shop

GRID = {"style": ["sync", "async"], "rate": [20, 40]}
SEEDS = range(1, 4)
METRICS = ["throughput", "latency_p99", "error_rate"]


def build(style, rate):
    return shop(style, rate=rate, duration=5)


@pytest.fixture(scope="module")
def sequential():
    return sl.sweep(build, grid=GRID, seeds=SEEDS, metrics=METRICS, progress=False)


def test_one_row_per_parameter_set_and_seed(sequential):
    runs = sequential.runs
    assert list(runs.columns) == ["style", "rate", "seed", *METRICS, "error"]
    assert len(runs) == 2 * 2 * 3
    assert list(runs.itertuples(index=False, name=None))[4][:3] == ("sync", 40, 2)
    assert (runs.error == "").all()
    # common random numbers: one seed, one stream of customers, whatever the design
    first = runs[(runs.seed == 1) & (runs.rate == 20)]
    assert first.throughput.nunique() == 1


def test_means_are_the_confidence_intervals_of_the_runs(sequential):
    means = sequential.means()
    assert means.index.names == ["style", "rate"] and len(means) == 4
    runs = sequential.runs
    cell = runs[(runs["style"] == "async") & (runs.rate == 40)].latency_p99
    assert means.loc[("async", 40), ("latency_p99", "mean")] == mean_ci(cell)[0]
    assert means.loc[("async", 40), ("latency_p99", "ci95")] == mean_ci(cell)[1]
    assert (means[("runs", "")] == 3).all() and (means[("failed", "")] == 0).all()


def test_a_process_pool_gives_the_same_rows(sequential):
    pooled = sl.sweep(build, grid=GRID, seeds=SEEDS, metrics=METRICS, executor=2,
                      progress=False)
    pd.testing.assert_frame_equal(pooled.runs, sequential.runs, check_exact=True)


def test_a_dask_cluster_gives_the_same_rows(sequential):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = sl.sweep(lambda style, rate: build(style, rate), grid=GRID, seeds=SEEDS,
                           metrics=METRICS, executor=client.get_executor(), progress=False)
    pd.testing.assert_frame_equal(on_dask.runs, sequential.runs, check_exact=True)


def refusing(rate):
    # rate -1 is refused when the model is built; rate 300 runs into a limit on events
    world = sl.World(max_events=100 if rate == 300 else 20_000_000)
    world.service("shop", workers=2, work=sl.Exp(mean=0.01))
    world.load(sl.Poisson(rate=rate), target=("shop", "buy"), duration=60)

    @world.services["shop"].endpoint("buy")
    def buy(ctx, order):
        yield ctx.work()
    return world


@pytest.mark.parametrize("executor", [None, 2])
def test_a_failed_run_stays_in_its_row(executor):
    swept = sl.sweep(refusing, grid={"rate": [10, -1, 300]}, seeds=[1, 2],
                     metrics=["requests"], executor=executor, progress=False)
    errors = swept.runs.set_index(["rate", "seed"]).error
    assert errors[(10, 1)] == errors[(10, 2)] == ""
    assert errors[(-1, 1)].startswith("ModelError") and "rate" in errors[(-1, 1)]
    assert errors[(300, 2)].startswith("RunLimitError")
    assert swept.runs.set_index(["rate", "seed"]).requests[(10, 1)] > 0
    means = swept.means()
    assert means.loc[10, ("failed", "")] == 0 and means.loc[-1, ("failed", "")] == 2
    with pytest.raises(sl.ModelError, match="rate"):
        sl.sweep(refusing, grid={"rate": [-1]}, seeds=[1], errors="raise", progress=False)


def test_a_builder_that_cannot_travel_is_refused_by_name():
    lock = threading.Lock()

    def locked_build(rate):
        with lock:
            return build("sync", rate)

    with pytest.raises(sl.ModelError, match="locked_build.*cannot be sent"):
        sl.sweep(locked_build, grid={"rate": [10]}, seeds=[1], executor=2, progress=False)


@pytest.mark.parametrize("mistake, message", [
    (dict(grid=[("rate", [1])]), "grid must be a dict"),
    (dict(grid={"rate": []}), "non-empty list"),
    (dict(grid={"rate": "10"}), "non-empty list"),
    (dict(grid={"the rate": [1]}), "must be a name"),
    (dict(seeds=[]), "at least one seed"),
    (dict(seeds=[1.5]), "seeds must be a whole number"),
    (dict(seeds=["7"]), "seeds must be a whole number"),
    (dict(metrics=["p99"]), "unknown metric 'p99'"),
    (dict(executor=0), "executor must be"),
    (dict(executor="dask"), "executor must be"),
    (dict(errors="ignore"), "errors must be"),
])
def test_bad_arguments_are_refused_before_any_run(mistake, message):
    arguments = dict(grid={"rate": [10]}, seeds=[1], progress=False) | mistake
    with pytest.raises(sl.ModelError, match=message):
        sl.sweep(lambda rate: pytest.fail("ran"), **arguments)


def test_a_builder_must_return_a_world():
    swept = sl.sweep(lambda rate: None, grid={"rate": [1]}, seeds=[1], progress=False)
    assert "not a World" in swept.runs.error[0]


def test_the_progress_bar_shows_when_asked_and_never_when_not(capsys):
    # tqdm writes to stderr, or to stdout once IPython is loaded (as other tests do)
    sl.sweep(build, grid={"style": ["sync"], "rate": [5]}, seeds=[1], progress=True)
    shown = capsys.readouterr()
    assert "sweep" in shown.err + shown.out
    sl.sweep(build, grid={"style": ["sync"], "rate": [5]}, seeds=[1], progress=False)
    assert "sweep" not in "".join(capsys.readouterr())


def test_compare_and_replicate_run_on_an_executor_too():
    designs = {"sync": lambda: build("sync", 20), "async": lambda: build("async", 20)}
    alone = sl.compare(designs, seeds=[1, 2], progress=False)
    pd.testing.assert_frame_equal(sl.compare(designs, seeds=[1, 2], executor=2,
                                             progress=False), alone, check_exact=True)
    assert list(alone.index) == ["sync", "async"]
    runs = sl.replicate(lambda: build("sync", 20), seeds=[3, 4], executor=2, progress=False)
    assert list(runs.index) == [3, 4] and "latency_p99" in runs


def test_a_builder_defined_in_a_notebook_runs_in_other_processes():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in (
        "import simlab as sl\nRATE = 15",
        "def build(style):\n    return sl.scenarios.shop(style, rate=RATE, duration=5)",
        "args = dict(grid={'style': ['sync', 'async']}, seeds=[1, 2], progress=False)\n"
        "here = sl.sweep(build, **args).runs\n"
        "there = sl.sweep(lambda style: build(style), executor=2, **args).runs\n"
        "print(there.equals(here), len(there), there.error.eq('').all())")]
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    assert notebook.cells[-1].outputs[0]["text"].strip() == "True 4 True"
