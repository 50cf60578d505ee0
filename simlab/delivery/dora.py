"""The DORA metrics of a run: how fast and how safely a team delivers.

DORA (DevOps Research and Assessment) measures software delivery with five numbers:

* **change lead time**: from a change's commit to its running in production (median and
  90th percentile, over the changes that went live in the window). Every change that
  reaches production counts, hotfixes included, as DORA counts them (the note says how
  many were hotfixes); a fix of a rolled-back change counts from its own commit;
* **deployment frequency**: deployments of a new version to production per day (planned
  or a hotfix; a rollback brings an old version back, so it is not one);
* **change fail rate**: the share of those deployments that needed immediate
  intervention: rolled back during their rollout (a canary's verdict, an alert), or the
  cause of an incident afterwards (``deployment_fates``);
* **failed deployment recovery time**: from the start of a failed deployment until the
  service recovered (the rollback done, or the incident resolved); the median, over the
  failures that recovered (the note counts those that had not by the end);
* **deployment rework rate**: the share of all deployments, rollbacks included, that
  were unplanned: made to fix an incident in production.

And one of reliability, reported apart: **SLO attainment**, the share of finished
requests that succeeded.

The deployments and incidents come from ``result.deployments`` and ``result.incidents``
when the run had a deployer (deployment strategies acting on the live service, or an
alert). Without one nothing
watched production: deployments are read from the pipeline's own production runs, and
the three metrics that need incidents are NaN (their note says so).

Times are read as minutes (see ``simlab.delivery``): lead and recovery times are in
minutes, frequency per day.
"""

import numpy as np
import pandas as pd

from .. import checks
from .deploy import Deployer
from .stages import DAY

NO_DEPLOYER = ("no deployer in this run: nothing watched production, so no failure could "
               "be seen (add deployment strategies to measure it)")


def _deployments(result):
    """Deployments as (service, version, strategy, start, end, outcome, unplanned): the
    deployment side's table when the run had a deployer, else the pipeline's production
    runs."""
    if Deployer.needed(result.world):
        return result.deployments, True
    runs = result.pipeline_runs
    production = runs[runs.version != ""]
    return pd.DataFrame({
        "service": production.service.to_numpy(), "version": production.version.to_numpy(),
        "strategy": "", "start": production.start.to_numpy(),
        "end": production.end.to_numpy(),
        "outcome": np.where(production.result == "pass", "succeeded", "rolled_back"),
        "unplanned": False}), False


def deployment_fates(result):
    """Every deployment of a new version in ``result`` (not a rollback, which brings an
    old version back), with ``failed``: did it need immediate intervention, rolled back
    during its rollout or the cause of an incident? and ``recovered``: when its service
    recovered (the rollback done, or the incident resolved; NaN if not by the end).

    One definition of a failed deployment, for ``dora_metrics``, the lessons and the
    exercises. A version's name is deployed once, so an incident names its deployment."""
    deployments = result.deployments
    fates = deployments[deployments.strategy != "rollback"].copy()
    rolled_back = (fates.outcome == "rolled_back").to_numpy()
    recovered = np.where(rolled_back, fates.end, np.nan)
    incidents = result.incidents
    resolved = incidents.groupby(["service", "version"]).resolved.max()
    caused = resolved.reindex(list(zip(fates.service, fates.version)))
    had = caused.index.isin(resolved.index)
    fates["failed"] = rolled_back | had
    fates["recovered"] = np.where(had, np.fmax(recovered, caused.to_numpy()), recovered)
    return fates


def dora_metrics(result, window=None):
    """The DORA metrics of ``result`` over ``window`` = ``(start, end)`` in minutes
    (default: the whole run), as a DataFrame indexed by metric, with columns value, unit
    and note. ``result.dora(window)`` calls it; so does ``sl.delivery.dora_metrics(result)``
    (``sl.delivery.dora`` is this module)."""
    start, end = (0.0, result.end_time) if window is None else \
        checks.pair_of_seconds("dora", "window", window, unit="minutes")
    days = (end - start) / DAY
    rows = {}
    changes = result.changes
    live = changes[(changes.live >= start) & (changes.live <= end)]
    hotfixes = int(live.unplanned.sum())
    for name, q in (("lead_time_p50", 0.5), ("lead_time_p90", 0.9)):
        rows[name] = (live.lead_time.quantile(q) if len(live) else np.nan, "minutes",
                      f"{len(live)} changes went live in the window, {hotfixes} of them "
                      "hotfixes (included)")
    deployments, watched = _deployments(result)
    in_window = deployments[(deployments.start >= start) & (deployments.start <= end)]
    fates = deployment_fates(result) if watched else \
        in_window.assign(failed=in_window.outcome == "rolled_back", recovered=np.nan)
    fates = fates[(fates.start >= start) & (fates.start <= end)]
    rows["deployment_frequency"] = (len(fates) / days if days else np.nan, "per day",
                                    f"{len(fates)} deployments of a new version in "
                                    f"{days:.3g} days")
    if watched:
        finished = fates[fates.outcome != "in_progress"]
        failed = finished[finished.failed]
        recovery = (failed.recovered - failed.start).dropna()
        rows["change_fail_rate"] = (finished.failed.mean() if len(finished) else np.nan,
                                    "share", f"{len(failed)} of {len(finished)} finished "
                                    "deployments were rolled back or caused an incident")
        rows["recovery_time"] = (recovery.median() if len(recovery) else np.nan, "minutes",
                                 "median, from the failed deployment's start to the "
                                 "rollback or the incident's resolution"
                                 + (f" ({len(failed) - len(recovery)} not recovered by the "
                                    "end, not counted)" if len(recovery) < len(failed)
                                    else ""))
        rows["rework_rate"] = (in_window.unplanned.mean() if len(in_window) else np.nan,
                               "share", f"unplanned deployments (rollbacks and hotfixes, "
                               f"made to fix an incident) among all {len(in_window)}")
    else:
        for name, unit in (("change_fail_rate", "share"), ("recovery_time", "minutes"),
                           ("rework_rate", "share")):
            rows[name] = (np.nan, unit, NO_DEPLOYER)
    requests = result.requests
    requests = requests[(requests.start >= start) & (requests.start <= end)
                        & (requests.outcome != "in_flight")]
    rows["slo_attainment"] = ((requests.outcome == "ok").mean() if len(requests) else np.nan,
                              "share", f"reliability: ok among {len(requests)} finished "
                              "requests")
    return pd.DataFrame.from_dict(rows, orient="index", columns=["value", "unit", "note"])
