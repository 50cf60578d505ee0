"""``simlab run release``: a delivery pipeline deploying the shop's orders service,
headless. It prints the run's DORA metrics; ``--out FOLDER`` writes its tables.

The scenario is ``simlab.scenarios.release`` (lesson 07). Its clock reads one simulated
second as one minute: lead and recovery times are in minutes, frequency per day.
"""

import math
import sys

from .errors import SimlabError
from .scenarios import release
from .scenarios.release import BATCHING, STRATEGIES

TABLES = ("changes", "pipeline_runs", "deployments", "incidents", "traffic", "canary_checks",
          "requests")

#: How each DORA metric is shown: (scale, format, unit).
SHOWN = {"lead_time_p50": (1, ".1f", " min"), "lead_time_p90": (1, ".1f", " min"),
         "deployment_frequency": (1, ".1f", " /day"), "change_fail_rate": (100, ".1f", " %"),
         "recovery_time": (1, ".1f", " min"), "rework_rate": (100, ".1f", " %"),
         "slo_attainment": (100, ".2f", " %")}


def _settings(parser, args):
    """The scenario's keyword arguments from the options; a usage error (one line, exit
    status 2) for the first one that is wrong, before anything is simulated."""
    given = {"strategy": args.strategy, "batching": args.batching, "runners": args.runners,
             "defect_rate": args.defect_rate, "commit_rate": args.commit_rate,
             "flaky": args.flaky, "reruns": args.reruns, "traffic": args.traffic}
    if args.strategy is not None and args.strategy not in STRATEGIES:
        parser.error(f"--strategy {args.strategy}: pick one of {', '.join(STRATEGIES)}")
    if args.batching is not None and args.batching not in BATCHING:
        parser.error(f"--batching {args.batching}: pick one of {', '.join(BATCHING)}")
    limits = {"runners": ("1 or more", lambda v: v >= 1),
              "defect_rate": ("a probability from 0 to 1", lambda v: 0 <= v <= 1),
              "commit_rate": ("above 0 (changes per minute)", lambda v: 0 < v < math.inf),
              "flaky": ("a probability from 0 to below 1", lambda v: 0 <= v < 1),
              "reruns": ("0 or more", lambda v: v >= 0),
              "traffic": ("0 or more (requests per simulated second)",
                          lambda v: 0 <= v < math.inf)}
    for name, (need, fine) in limits.items():
        if given[name] is not None and not fine(given[name]):
            parser.error(f"--{name.replace('_', '-')} {given[name]:g}: must be {need}")
    if args.days is not None and not 0 < args.days < math.inf:
        parser.error(f"--days {args.days:g}: must be above 0")
    settings = {name: value for name, value in given.items() if value is not None}
    if args.days is not None:
        settings["duration"] = args.days * 24 * 60
    return settings


def run_release(parser, args, writable):
    """Run the release scenario as the options say; print its DORA metrics; exit status."""
    settings = _settings(parser, args)
    if args.out is not None:
        problem = writable(args.out)
        if problem:
            print(problem, file=sys.stderr)
            return 2
    try:
        world = release(seed=args.seed, **settings)
        result = world.run()
    except SimlabError as error:
        print(f"simlab: {error}", file=sys.stderr)
        return 2
    pipeline = world.pipelines[0]
    days = pipeline.duration / (24 * 60)
    print(f"release ({settings.get('strategy', 'canary')}, "
          f"{settings.get('batching', 'continuous')} batching, {pipeline.runners} runner"
          f"{'s' if pipeline.runners > 1 else ''}), seed {args.seed}, {days:g} day"
          f"{'' if days == 1 else 's'} of commits "
          f"at {pipeline.commits.rate:g}/min, defect rate {pipeline.defect_rate:.0%} — "
          f"simulated in {result.wall_seconds:.2f} s\n")
    print(summary_text(result))
    if args.out:
        for table in TABLES:
            getattr(result, table).to_csv(args.out / f"{table}.csv", index=False)
        result.dora().to_csv(args.out / "dora.csv", index_label="metric")
        print(f"\ntables (CSV) written to {args.out}/")
    return 0


def summary_text(result):
    """The ledger of changes and deployments, then the DORA metrics, one per line."""
    changes, deployments = result.changes, result.deployments
    lines = [f"{'changes':22s}{len(changes):>12,}"]
    for outcome in ("live", "caught", "rolled_back"):
        lines.append(f"  {outcome:20s}{(changes.outcome == outcome).sum():>12,}")
    # Among those: the changes made to end an incident, and the fixes of rolled-back ones.
    lines.append(f"  {'hotfixes (unplanned)':20s}{changes.unplanned.sum():>12,}")
    lines.append(f"  {'fixes (resubmits)':20s}{(changes.resubmits > 0).sum():>12,}")
    lines.append(f"{'deployments':22s}{len(deployments):>12,}")
    lines.append(f"  {'unplanned':20s}{deployments.unplanned.sum():>12,}")
    lines.append(f"{'incidents':22s}{len(result.incidents):>12,}")
    lines.append("")
    notes = []
    for name, row in result.dora().iterrows():
        scale, form, unit = SHOWN[name]
        if math.isnan(row.value):
            text = "n/a"
            notes.append(f"n/a: {name}: {row.note}")
        else:
            text = f"{row.value * scale:{form}}{unit}"
        lines.append(f"{name:22s}{text:>12s}")
    return "\n".join(lines + ([""] + notes if notes else []))
