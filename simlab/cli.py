"""The ``simlab`` command: run a scenario headless, print its summary, write its results.

Examples:
    simlab run shop --style async --seed 1 --duration 60
    simlab run shop --style sync --outage payments 20 10 --out results/
    simlab compare shop --seeds 5
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from . import scenarios
from .errors import SimlabError

_TABLES = ("requests", "spans", "logs", "messages", "queues", "faults")


def _parser():
    parser = argparse.ArgumentParser(prog="simlab", description="Run simlab scenarios headless.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one scenario and print its summary")
    run.add_argument("--style", choices=("sync", "async"), default="sync")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--out", type=Path, help="folder for CSV tables and PNG figures")
    compare = commands.add_parser("compare", help="compare sync and async on the same seeds")
    compare.add_argument("--seeds", type=int, default=5, help="replications per design")
    for command in (run, compare):
        command.add_argument("scenario", choices=("shop",))
        command.add_argument("--rate", type=float, default=50.0, help="orders per second")
        command.add_argument("--duration", type=float, default=60.0, help="seconds of load")
        command.add_argument("--outage", nargs=3, metavar=("SERVICE", "AT", "SECONDS"),
                             help="crash SERVICE at time AT for SECONDS")
    return parser


def _shop(args, style):
    outage = None
    if args.outage:
        service, at, seconds = args.outage
        outage = (service, float(at), float(seconds))
    return scenarios.shop(style=style, rate=args.rate, duration=args.duration, outage=outage)


def _write(result, folder):
    import matplotlib
    matplotlib.use("Agg")
    from . import plot

    folder.mkdir(parents=True, exist_ok=True)
    for table in _TABLES:
        getattr(result, table).to_csv(folder / f"{table}.csv", index=False)
    result.summary().to_csv(folder / "summary.csv", header=["value"])
    axes = plot.overview(result)
    axes[0, 0].figure.savefig(folder / "overview.png", dpi=110)
    if (result.requests.outcome == "ok").any():
        plot.waterfall(result).figure.savefig(folder / "slowest-trace.png", dpi=110)


def main(argv=None):
    args = _parser().parse_args(argv)
    pd.set_option("display.width", 120)
    try:
        if args.command == "run":
            result = _shop(args, args.style).run(seed=args.seed)
            print(f"shop ({args.style}), seed {args.seed}, {args.rate:g} orders/s for "
                  f"{args.duration:g} s — simulated in {result.wall_seconds:.2f} s\n")
            print(_summary_text(result.summary()))
            if args.out:
                _write(result, args.out)
                print(f"\ntables (CSV) and figures (PNG) written to {args.out}/")
        else:
            from .experiments import compare
            table = compare({style: (lambda style=style: _shop(args, style))
                             for style in ("sync", "async")}, seeds=range(1, args.seeds + 1))
            print(f"shop, sync vs async: {args.rate:g} orders/s for {args.duration:g} s, "
                  f"{args.seeds} seeds (mean ± 95% CI half-width)\n")
            print(_readable(table).to_string())
    except SimlabError as error:
        print(f"simlab: {error}", file=sys.stderr)
        return 2
    return 0


def _summary_text(summary):
    lines = []
    for name, value in summary.items():
        if name.startswith(("latency", "completion")):
            text = f"{value * 1000:.1f} ms"
        elif float(value).is_integer():
            text = f"{int(value):,}"
        else:
            text = f"{value:.4g}"
        lines.append(f"{name:16s}{text:>12s}")
    return "\n".join(lines)


def _readable(table):
    out = pd.DataFrame(index=table.index)
    for metric in table.columns.get_level_values(0).unique():
        mean, ci = table[(metric, "mean")], table[(metric, "ci95")]
        scale, unit = (1000, " ms") if metric.startswith(("latency", "completion")) else (1, "")
        out[metric] = [f"{m * scale:.4g} ± {c * scale:.2g}{unit}" for m, c in zip(mean, ci)]
    return out


if __name__ == "__main__":
    sys.exit(main())
