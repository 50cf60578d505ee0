"""The ``simlab`` command: run a scenario headless, print its summary, write its results.

Examples:
    simlab run shop --style async --seed 1 --duration 60
    simlab run shop --style sync --outage payments 20 10 --out results/
    simlab run shop --style async --out results/ --traces otlp,jaeger,chrome,logs
    simlab compare shop --seeds 5
    simlab run release --strategy canary --batching nightly --runners 2

Everything the command is told is checked before it simulates anything: a mistake ends
with one line saying what is wrong (exit status 2), not a traceback, and never after a
long run.
"""

import argparse
import math
import sys
import tempfile
from pathlib import Path

import pandas as pd

from . import scenarios
from .errors import SimlabError

_TABLES = ("requests", "spans", "logs", "messages", "queues", "faults")

RUN_EXAMPLES = """\
  simlab run shop                         the call chain, 50 orders/s for 60 s, seed 1
  simlab run shop --style async --seed 2  the event-driven shop, on another seed
  simlab run shop --outage payments 20 10 --out results/
                                          payments down from 20 s to 30 s; tables (CSV)
                                          and figures (PNG) written to results/
  simlab run shop --style async --out results/ --traces otlp,jaeger,chrome,logs
                                          also the traces and logs, for Jaeger UI,
                                          ui.perfetto.dev or an OpenTelemetry Collector
  simlab run release                      a pipeline delivering the shop's orders service:
                                          3 days of commits, continuous batching, canary
  simlab run release --batching nightly --strategy big-bang --runners 1 --out results/
                                          a nightly release train; its DORA metrics, and
                                          the tables (CSV) written to results/
"""

COMPARE_EXAMPLES = """\
  simlab compare shop --seeds 5           sync against async on seeds 1 to 5: the mean
                                          of each metric and its 95% confidence interval
  simlab compare shop --outage payments 20 10 --rate 80
  simlab compare shop --seeds 30 --workers 2
                                          30 seeds each, on two processes
"""

#: Why a summary metric can have no value (NaN) in a run.
_NO_VALUE = {
    "lag": "no read model in this design (the async shop's tracking page is one)",
    "latency": "no request succeeded",
    "completion": "no request succeeded",
    "error_rate": "no request finished",
    "stale_read_rate": "no read of a read model in this run",
    "throughput": "no load",
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="simlab", description="Run simlab scenarios headless. All times are simulated "
        "seconds;\nevery run is seeded, so the same command prints the same numbers.",
        epilog="examples:\n" + RUN_EXAMPLES + COMPARE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run one scenario, print its summary, optionally write its results",
        epilog="examples:\n" + RUN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--style", choices=("sync", "async"),
                     help="sync: a chain of synchronous calls; async: events on a broker "
                          "(default: sync)")
    run.add_argument("--seed", type=int, default=1,
                     help="the run's seed, a whole number (default: 1); the same seed gives "
                          "the same numbers")
    run.add_argument("--out", type=Path, metavar="FOLDER",
                     help="write the tables (CSV) and figures (PNG) to FOLDER, made if "
                          "missing (checked before the run)")
    run.add_argument("--traces", metavar="FORMATS",
                     help="also write the traces and logs to FOLDER (needs --out), in any of "
                          "these formats, comma-separated: otlp (traces.otlp.json and "
                          "logs.otlp.json, for an OpenTelemetry Collector), jaeger "
                          "(traces.jaeger.json, for Jaeger UI), chrome (trace.chrome.json, "
                          "for ui.perfetto.dev), logs (logs.jsonl, JSON lines)")
    compare = commands.add_parser(
        "compare", help="compare sync and async on the same seeds, with confidence intervals",
        epilog="examples:\n" + COMPARE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("--seeds", type=int, default=5,
                         help="replications per design, 2 or more: seeds 1 to SEEDS "
                              "(default: 5)")
    compare.add_argument("--workers", type=int, default=1,
                         help="processes to run the replications side by side, 1 or more "
                              "(default: 1; the results are the same whatever the number)")
    run.add_argument("scenario", choices=("shop", "release"),
                     help="the scenario: shop (the checkout flow) or release (a delivery "
                          "pipeline deploying the shop's orders service)")
    compare.add_argument("scenario", choices=("shop",), help="the scenario (shop)")
    _release_options(run)
    for command in (run, compare):
        command.add_argument("--rate", type=float,
                             help="shop: orders per second (default: 50)")
        command.add_argument("--duration", type=float,
                             help="shop: seconds of load (default: 60)")
        command.add_argument("--outage", nargs=3, metavar=("SERVICE", "AT", "SECONDS"),
                             help="shop: crash SERVICE at time AT (seconds, within the load) "
                                  "for SECONDS")
    parser.commands = {"run": run, "compare": compare}  # to say which command was misused
    return parser


SHOP_DEFAULTS = {"style": "sync", "rate": 50.0, "duration": 60.0}

#: The options of ``simlab run release``: (flag, type, help). Their defaults are the
#: scenario's own (simlab/scenarios/release.py), so the help says them once.
RELEASE_OPTIONS = (
    ("--strategy", str, "how orders is deployed: big-bang, rolling, blue-green or canary "
                        "(default: canary)"),
    ("--batching", str, "which changes ship together: continuous, hourly, nightly or "
                        "merge-queue (default: continuous)"),
    ("--runners", int, "CI runners the stages share, 1 or more (default: 2)"),
    ("--defect-rate", float, "the probability that a change carries a defect, 0 to 1 "
                             "(default: 0.1)"),
    ("--commit-rate", float, "changes committed per minute (default: 0.02, about 29 a day)"),
    ("--flaky", float, "the probability that a test run fails for no reason, 0 to below 1 "
                       "(default: 0)"),
    ("--reruns", int, "automatic re-runs of a failed test run, 0 or more (default: 0)"),
    ("--days", float, "days of commits (default: 3); one simulated second is a minute"),
    ("--traffic", float, "customer requests per simulated second, a sample of a minute's "
                         "traffic (default: 4)"),
)


def _release_options(run):
    group = run.add_argument_group("release options (simlab run release)")
    for flag, kind, text in RELEASE_OPTIONS:
        group.add_argument(flag, type=kind, help=text)


def _only_for(parser, args):
    """Refuse an option of the other scenario (a shop option on release, or back)."""
    release = [flag for flag, _, _ in RELEASE_OPTIONS]
    shop = ["--style", "--rate", "--duration", "--outage", "--traces"]
    given = [flag for flag in (shop if args.scenario == "release" else release)
             if getattr(args, flag[2:].replace("-", "_"), None) is not None]
    if given:
        other = "shop" if args.scenario == "release" else "release"
        parser.error(f"{given[0]} is an option of {other}, not of {args.scenario}; see "
                     f"simlab {args.command} --help")
    if args.scenario == "shop":
        for name, value in SHOP_DEFAULTS.items():
            if getattr(args, name, None) is None:
                setattr(args, name, value)


def _outage(parser, args):
    """``--outage`` as (service, at, seconds), or None; a usage error if it cannot be."""
    if not args.outage:
        return None
    service, at, seconds = args.outage
    try:
        at, seconds = float(at), float(seconds)
    except ValueError:
        parser.error(f"--outage {service} {args.outage[1]} {args.outage[2]}: AT and SECONDS "
                     "must be numbers of seconds, such as --outage payments 20 10")
    if not 0 <= at < args.duration:
        parser.error(f"--outage: {service} would go down at {at:g} s, outside the "
                     f"{args.duration:g} s of load; pick AT from 0 to below {args.duration:g}")
    return service, at, seconds


def _trace_formats(parser, args):
    """``--traces`` as a list of export formats (empty if not given), or a usage error."""
    if args.command != "run" or args.traces is None:
        return []
    from .export import FORMATS

    formats = [name.strip() for name in args.traces.split(",") if name.strip()]
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        parser.error(f"--traces {args.traces}: unknown format {unknown[0]!r}; choose from "
                     f"{','.join(FORMATS)}, e.g. --traces otlp,jaeger")
    if not formats:
        parser.error(f"--traces {args.traces!r}: name one format or more from "
                     f"{','.join(FORMATS)}, e.g. --traces otlp,jaeger")
    if args.out is None:
        parser.error(f"--traces {args.traces}: say where to write them with --out FOLDER")
    return list(dict.fromkeys(formats))


def _writable(folder):
    """Make ``folder`` and check that files can be written there; an error message if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"simlab: cannot write the results to {folder}/: {error.strerror or error}"
    return None


def _write(result, folder, title):
    from . import plot

    for table in _TABLES:
        getattr(result, table).to_csv(folder / f"{table}.csv", index=False)
    result.summary().to_csv(folder / "summary.csv", header=["value"])
    axes = plot.overview(result, title=title)
    axes[0, 0].figure.savefig(folder / "overview.png", dpi=110)
    if (result.requests.outcome == "ok").any():
        plot.waterfall(result).figure.savefig(folder / "slowest-trace.png", dpi=110)


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    command = parser.commands[args.command]  # its mistakes are shown with its own usage
    _only_for(command, args)
    if args.scenario == "release":
        from .cli_release import run_release
        return run_release(command, args, _writable)
    outage = _outage(command, args)
    traces = _trace_formats(command, args)
    if args.command == "compare" and args.seeds < 2:
        command.error(f"--seeds {args.seeds}: a confidence interval needs 2 seeds or more; "
                     "for a single seed, use simlab run")
    if args.command == "compare" and args.workers < 1:
        command.error(f"--workers {args.workers}: give 1 or more processes")
    if args.command == "run" and args.out is not None:
        problem = _writable(args.out)
        if problem:
            print(problem, file=sys.stderr)
            return 2
    pd.set_option("display.width", 120)

    def shop(style):
        return scenarios.shop(style=style, rate=args.rate, duration=args.duration,
                              outage=outage)

    down = f", {outage[0]} down from {outage[1]:g} s to {outage[1] + outage[2]:g} s" \
        if outage else ""
    try:
        if args.command == "run":
            result = shop(args.style).run(seed=args.seed)
            print(f"shop ({args.style}), seed {args.seed}, {args.rate:g} orders/s for "
                  f"{args.duration:g} s{down} — simulated in {result.wall_seconds:.2f} s\n")
            print(_summary_text(result.summary()))
            if args.out:
                fault = f"{outage[0]} down from {outage[1]:g} s to {outage[1] + outage[2]:g} s" \
                    if outage else "no fault"
                _write(result, args.out,
                       title=f"shop ({args.style}), seed {args.seed}, {args.rate:g} orders/s: "
                             f"{fault}")
                print(f"\ntables (CSV) and figures (PNG) written to {args.out}/")
            if traces:
                paths = result.export(args.out, formats=traces)
                print(f"traces and logs ({', '.join(traces)}) written to {args.out}/: "
                      f"{', '.join(path.name for path in paths)}")
        else:
            from .experiments import compare
            table = compare({style: (lambda style=style: shop(style))
                             for style in ("sync", "async")}, seeds=range(1, args.seeds + 1),
                            executor=args.workers if args.workers > 1 else None)
            print(f"shop, sync vs async: {args.rate:g} orders/s for {args.duration:g} s{down}, "
                  f"seeds 1 to {args.seeds} (mean ± 95% CI half-width)\n")
            print(_readable(table).to_string())
    except SimlabError as error:
        print(f"simlab: {error}", file=sys.stderr)
        return 2
    return 0


def _unit(name):
    """How a summary metric is shown: (scale, format, unit)."""
    if name.startswith(("latency", "completion", "lag")):
        return 1000, ".1f", " ms"
    if name.endswith("rate"):
        return 100, ".2f", " %"
    if name == "throughput":
        return 1, ".1f", " /s"
    return 1, ",.0f", ""


def _why_no_value(name):
    return next(why for prefix, why in _NO_VALUE.items() if name.startswith(prefix))


def _summary_text(summary):
    lines, missing = [], {}
    for name, value in summary.items():
        scale, form, unit = _unit(name)
        if math.isnan(value):
            text = "n/a"
            missing.setdefault(_why_no_value(name), []).append(name)
        else:
            text = f"{value * scale:{form}}{unit}"
        lines.append(f"{name:16s}{text:>12s}")
    if missing:
        lines.append("")
    lines += [f"n/a: {', '.join(names)}: {why}" for why, names in missing.items()]
    return "\n".join(lines)


def _readable(table):
    out = pd.DataFrame(index=table.index)
    for metric in table.columns.get_level_values(0).unique():
        mean, ci = table[(metric, "mean")], table[(metric, "ci95")]
        scale, form, unit = _unit(metric)
        form = ".4g" if form == ".1f" else form
        out[metric] = ["n/a" if math.isnan(m) else f"{m * scale:{form}} ± {c * scale:.2g}{unit}"
                       for m, c in zip(mean, ci)]
    return out


if __name__ == "__main__":
    sys.exit(main())
