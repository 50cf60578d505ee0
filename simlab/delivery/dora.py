"""The DORA metrics of a run: how fast and how safely a team delivers.

DORA (DevOps Research and Assessment) measures software delivery with five numbers:

* **change lead time**: from a change's commit to its running in production (median and
  90th percentile, over the changes that went live in the window). Every change that
  reaches production counts, hotfixes included, as DORA counts them (the note says how
  many were hotfixes); a fix of a rolled-back change counts from its own commit;
* **deployment frequency**: deployments to production per day;
* **change fail rate**: the share of deployments that needed immediate intervention
  (a rollback, or a hotfix for the incident they caused);
* **failed deployment recovery time**: from the start of a failed deployment until the
  service recovered (the rollback done, or the incident resolved); the median;
* **deployment rework rate**: the share of deployments that were unplanned, made to
  fix an incident in production.

And one of reliability, reported apart: **SLO attainment**, the share of finished
requests that succeeded.

The deployments and incidents come from ``result.deployments`` and ``result.incidents``
when the run had deployment strategies acting on the live service. Without them nothing
watched production: deployments are read from the pipeline's own production runs, and
the three metrics that need incidents are NaN (their note says so).

Times are read as minutes (see ``simlab.delivery``): lead and recovery times are in
minutes, frequency per day.
"""

import numpy as np
import pandas as pd

from .. import checks
from .stages import DAY

NO_DEPLOYER = ("no deployer in this run: nothing watched production, so no failure could "
               "be seen (add deployment strategies to measure it)")


def _deployments(result):
    """Deployments as (service, version, start, end, outcome, unplanned): the deployment
    side's table when it has rows, else the pipeline's production runs."""
    table = getattr(result, "deployments", None)
    if table is not None and len(table):
        return table, True
    runs = result.pipeline_runs
    production = runs[runs.version != ""]
    return pd.DataFrame({
        "service": production.service.to_numpy(), "version": production.version.to_numpy(),
        "start": production.start.to_numpy(), "end": production.end.to_numpy(),
        "outcome": np.where(production.result == "pass", "succeeded", "rolled_back"),
        "unplanned": False}), False


def _recovered(deployments, incidents):
    """For each deployment: whether it failed, and when its service recovered (NaN if it
    had not by the end of the run)."""
    rolled_back = (deployments.outcome == "rolled_back").to_numpy()
    recovered = np.where(rolled_back, deployments.end, np.nan)
    failed = rolled_back.copy()
    if incidents is not None and len(incidents):
        resolved = incidents.groupby(["service", "version"]).resolved.max()
        keys = list(zip(deployments.service, deployments.version))
        caused = resolved.reindex(keys)
        had = caused.index.isin(resolved.index)
        failed |= had
        recovered = np.where(had, np.fmax(recovered, caused.to_numpy()), recovered)
    return failed, recovered


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
    deployments = deployments[(deployments.start >= start) & (deployments.start <= end)]
    rows["deployment_frequency"] = (len(deployments) / days if days else np.nan, "per day",
                                    f"{len(deployments)} deployments in {days:.3g} days")
    finished = deployments[deployments.outcome != "in_progress"]
    if watched:
        failed, recovered = _recovered(finished, getattr(result, "incidents", None))
        share = failed.mean() if len(finished) else np.nan
        recovery = recovered[failed] - finished.start.to_numpy()[failed]
        rows["change_fail_rate"] = (share, "share", f"{failed.sum()} of {len(finished)} "
                                    "finished deployments were rolled back or caused an incident")
        rows["recovery_time"] = (np.nanmedian(recovery) if np.isfinite(recovery).any()
                                 else np.nan, "minutes", "median, from the failed deployment's "
                                 "start to the rollback or the incident's resolution")
        rows["rework_rate"] = (deployments.unplanned.mean() if len(deployments) else np.nan,
                               "share", "unplanned deployments, made to fix an incident "
                               "(rollbacks and hotfixes)")
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
