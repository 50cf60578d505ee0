"""The simlab command: what a newcomer runs first."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from simlab.cli import main


def test_run_prints_the_summary_and_writes_tables_and_figures(tmp_path, capsys):
    assert main(["run", "shop", "--style", "async", "--seed", "3", "--duration", "5",
                 "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "shop (async), seed 3" in printed and "latency_p99" in printed
    requests = pd.read_csv(tmp_path / "requests.csv")
    assert len(requests) > 100 and set(requests.outcome) == {"ok"}
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    assert (tmp_path / "slowest-trace.png").exists()
    for table in ("spans", "logs", "messages", "queues", "faults", "summary"):
        assert (tmp_path / f"{table}.csv").exists()


def test_run_writes_the_traces_in_the_formats_asked_for(tmp_path, capsys):
    assert main(["run", "shop", "--style", "async", "--duration", "2", "--out", str(tmp_path),
                 "--traces", "otlp,chrome"]) == 0
    assert "traces and logs (otlp, chrome) written to " in capsys.readouterr().out
    for name in ("traces.otlp.json", "logs.otlp.json", "trace.chrome.json"):
        assert json.loads((tmp_path / name).read_text())
    assert not (tmp_path / "traces.jaeger.json").exists()
    assert not (tmp_path / "logs.jsonl").exists()


def test_compare_prints_both_designs_with_intervals(capsys):
    assert main(["compare", "shop", "--seeds", "2", "--duration", "5",
                 "--outage", "payments", "1", "2"]) == 0
    printed = capsys.readouterr().out
    assert "sync" in printed and "async" in printed and "±" in printed


def test_a_wrong_outage_service_is_a_clear_error_not_a_traceback(capsys):
    assert main(["run", "shop", "--outage", "paymnets", "1", "2"]) == 2
    assert "unknown service 'paymnets'" in capsys.readouterr().err


def test_an_unknown_style_is_refused_by_the_parser():
    with pytest.raises(SystemExit):
        main(["run", "shop", "--style", "fast"])


# -- mistakes end with one line (exit status 2), before anything is simulated


def usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_an_outage_time_that_is_not_a_number_is_a_usage_error(capsys):
    error = usage_error(["run", "shop", "--outage", "payments", "abc", "10"], capsys)
    assert "--outage payments abc 10: AT and SECONDS must be numbers of seconds" in error
    assert "Traceback" not in error


def test_an_outage_after_the_load_is_refused(capsys):
    error = usage_error(["run", "shop", "--outage", "payments", "100", "10"], capsys)
    assert "payments would go down at 100 s, outside the 60 s of load" in error


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if the command simulates anything."""
    def simulate(*args, **kwargs):
        raise AssertionError("the command ran the scenario before checking its input")
    monkeypatch.setattr("simlab.scenarios.shop", simulate)


@pytest.mark.parametrize("folder", ["/proc/nope", "{tmp}/a-file/results"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_the_run(
        folder, tmp_path, capsys, no_run):
    (tmp_path / "a-file").write_text("not a folder")
    folder = folder.format(tmp=tmp_path)
    assert main(["run", "shop", "--out", folder]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"simlab: cannot write the results to {folder}/: ")
    assert "Traceback" not in error


@pytest.mark.parametrize("argv, message", [
    (["--out", "x", "--traces", "otlp,zipkin"],
     "--traces otlp,zipkin: unknown format 'zipkin'; choose from otlp,jaeger,chrome,logs"),
    (["--out", "x", "--traces", ","], "--traces ',': name one format or more"),
    (["--traces", "jaeger"], "--traces jaeger: say where to write them with --out FOLDER"),
])
def test_a_wrong_traces_option_is_refused_before_the_run(argv, message, capsys, no_run):
    error = usage_error(["run", "shop", *argv], capsys)
    assert message in error and "Traceback" not in error


def test_compare_needs_two_seeds_for_an_interval(capsys, no_run):
    error = usage_error(["compare", "shop", "--seeds", "1"], capsys)
    assert "--seeds 1: a confidence interval needs 2 seeds or more" in error


# -- what a run prints


def test_the_run_header_names_the_outage(capsys):
    assert main(["run", "shop", "--duration", "5", "--outage", "payments", "1", "2"]) == 0
    assert "shop (sync), seed 1, 50 orders/s for 5 s, payments down from 1 s to 3 s — " \
        in capsys.readouterr().out


def summary_lines(capsys):
    printed = capsys.readouterr().out
    return {line.split()[0]: line.split(None, 1)[1] for line in printed.splitlines()
            if line[:1].isalpha() and not line.startswith(("shop", "n/a"))}, printed


def test_the_summary_shows_every_time_in_ms_and_says_why_a_value_is_missing(capsys):
    assert main(["run", "shop", "--duration", "5"]) == 0
    lines, printed = summary_lines(capsys)
    assert lines["latency_p50"].endswith(" ms") and lines["completion_p99"].endswith(" ms")
    assert lines["lag_p50"] == "n/a" and lines["lag_p99"] == "n/a"
    assert "n/a: lag_p50, lag_p99: no read model in this design" in printed
    assert lines["throughput"].endswith(" /s") and lines["error_rate"] == "0.00 %"
    assert "nan" not in printed


def test_an_async_run_shows_its_lag_in_ms(capsys):
    assert main(["run", "shop", "--style", "async", "--duration", "5"]) == 0
    lines, printed = summary_lines(capsys)
    assert lines["lag_p50"].endswith(" ms") and lines["lag_p99"].endswith(" ms")
    assert "n/a: stale_read_rate: no read of a read model" in printed  # none in the shop


def test_help_shows_examples_and_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "examples:\n  simlab run shop " in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    printed = capsys.readouterr().out
    assert "sync: a chain of synchronous calls" in printed
    assert "the run's seed, a whole number" in printed
    assert "--out FOLDER" in printed and "examples:" in printed
    assert "--traces FORMATS" in printed and "jaeger (traces.jaeger.json" in printed


# -- the README shows what the commands print


def readme_example(command):
    """The output the README shows under ``$ simlab <command>``."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split(f"$ simlab {command}\n", 1)[1].split("```", 1)[0]
    return block.rstrip("\n")


def without_wall_time(text):
    return re.sub(r"simulated in [\d.]+ s", "simulated in ... s", text)


@pytest.mark.parametrize("command", [
    "run shop --style async --outage payments 20 10 --out results/",
    "compare shop --seeds 5 --outage payments 20 10",
    "run release --strategy canary --batching nightly --out results/",
])
def test_the_readme_shows_what_the_command_prints(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(command.split()) == 0
    printed = capsys.readouterr().out.rstrip("\n")
    assert without_wall_time(printed) == without_wall_time(readme_example(command))


# -- simlab run release: a delivery pipeline, its DORA metrics


def test_run_release_prints_the_dora_metrics_and_writes_the_tables(tmp_path, capsys):
    assert main(["run", "release", "--strategy", "big-bang", "--batching", "hourly",
                 "--runners", "3", "--days", "0.5", "--traffic", "1", "--seed", "4",
                 "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("release (big-bang, hourly batching, 3 runners), seed 4, "
                              "0.5 days of commits at 0.02/min, defect rate 10% — ")
    lines = {line.split()[0]: line.split(None, 1)[1] for line in printed.splitlines()[2:]
             if line.strip() and not line.startswith("n/a")}
    assert lines["lead_time_p50"].endswith(" min") and lines["change_fail_rate"].endswith(" %")
    assert lines["deployment_frequency"].endswith(" /day")
    changes = pd.read_csv(tmp_path / "changes.csv")
    assert int(lines["changes"].replace(",", "")) == len(changes) > 5
    assert set(changes.outcome) <= {"live", "caught", "rolled_back"}
    assert int(lines["hotfixes"].split()[-1]) == changes.unplanned.sum()
    assert int(lines["fixes"].split()[-1]) == (changes.resubmits > 0).sum()
    deployments = pd.read_csv(tmp_path / "deployments.csv")
    assert set(deployments.strategy) <= {"recreate", "rollback"}
    dora = pd.read_csv(tmp_path / "dora.csv", index_col="metric")
    assert "change_fail_rate" in dora.index
    for table in ("pipeline_runs", "incidents", "traffic", "canary_checks", "requests"):
        assert (tmp_path / f"{table}.csv").exists()


def test_run_release_is_the_same_for_the_same_seed(capsys):
    argv = ["run", "release", "--days", "0.25", "--traffic", "1", "--seed", "2"]
    assert main(argv) == 0
    first = without_wall_time(capsys.readouterr().out)
    assert main(argv) == 0
    assert without_wall_time(capsys.readouterr().out) == first


@pytest.fixture
def no_release(monkeypatch):
    """Fail the test if the command builds or runs the release scenario."""
    def simulate(*args, **kwargs):
        raise AssertionError("the command ran the scenario before checking its input")
    monkeypatch.setattr("simlab.cli_release.release", simulate)


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "canery"], "--strategy canery: pick one of big-bang, rolling, blue-green, canary"),
    (["--batching", "weekly"], "--batching weekly: pick one of continuous, hourly, nightly, merge-queue"),
    (["--runners", "0"], "--runners 0: must be 1 or more"),
    (["--defect-rate", "1.5"], "--defect-rate 1.5: must be a probability from 0 to 1"),
    (["--commit-rate", "0"], "--commit-rate 0: must be above 0"),
    (["--flaky", "1"], "--flaky 1: must be a probability from 0 to below 1"),
    (["--reruns", "-1"], "--reruns -1: must be 0 or more"),
    (["--days", "0"], "--days 0: must be above 0"),
    (["--commit-rate", "nan"], "--commit-rate nan: must be above 0"),
    (["--style", "async"], "--style is an option of shop, not of release"),
    (["--outage", "payments", "1", "2"], "--outage is an option of shop, not of release"),
    (["--traces", "otlp"], "--traces is an option of shop, not of release"),
    (["--runners", "two"], "argument --runners: invalid int value: 'two'"),
])
def test_a_wrong_release_option_is_one_line_before_the_run(argv, message, capsys, no_release):
    error = usage_error(["run", "release", *argv], capsys)
    assert message in error and "Traceback" not in error
    assert error.strip().splitlines()[-1].startswith("simlab run: error: ")


def test_a_release_option_on_the_shop_is_refused(capsys, no_run):
    error = usage_error(["run", "shop", "--strategy", "canary"], capsys)
    assert "--strategy is an option of release, not of shop" in error


def test_release_refuses_an_output_folder_it_cannot_write_before_the_run(
        tmp_path, capsys, no_release):
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["run", "release", "--out", str(tmp_path / "a-file" / "results")]) == 2
    assert capsys.readouterr().err.startswith("simlab: cannot write the results to ")


def test_run_help_explains_the_release_options(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    printed = capsys.readouterr().out
    assert "release options (simlab run release)" in printed
    for flag in ("--strategy", "--batching", "--runners", "--defect-rate", "--commit-rate",
                 "--flaky", "--reruns", "--days", "--traffic"):
        assert flag in printed
    assert "simlab run release --batching nightly" in printed
