"""The simlab command: what a newcomer runs first."""

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
