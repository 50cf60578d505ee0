"""Delivery: CI/CD pipelines in the simulated world, and the DORA metrics of a run.

A pipeline (``world.pipeline(service, commits=sl.Poisson(rate=...), ...)``) turns commits
into versions of a service: changes go through test stages on shared CI runners, are
batched, and deployed to production. ``result.changes`` and ``result.pipeline_runs``
record it all; ``result.dora()`` sums it up as the DORA metrics.

**Time.** The delivery side reads the world's clock as *minutes*: one simulated second
stands for one minute, so ``DAY`` is 1440 and a week of commits simulates in a blink.
Rates are per minute (``sl.Poisson(rate=0.05)``: a change every 20 minutes on average).

Modules: ``changes`` (changes, defects, versions), ``stages`` (stages and batching),
``pipeline`` (the pipeline during a run), ``dora`` (the metrics: ``dora_metrics(result)``,
which ``result.dora()`` calls); and on the deployment
side: ``versions`` (the versions live in a service, and their defects), ``strategies``
(recreate, rolling, blue-green, canary), ``deploy`` (the deployer, ``handles.deployer``),
``alerts`` (burn-rate alerts that open incidents).
"""

from .alerts import BurnRateAlert
from .changes import DEFECT_KINDS, Version
from .deploy import Deployer
from .dora import deployment_fates, dora_metrics
from .pipeline import Pipeline
from .stages import DAY, HOUR, MINUTE, WEEK, MergeQueue, Production, Schedule, Stage, \
    default_stages
from .strategies import BlueGreen, Canary, Recreate, Rolling
from .versions import Defect

__all__ = ["DEFECT_KINDS", "Version", "dora_metrics", "deployment_fates", "Pipeline", "DAY",
           "HOUR", "MINUTE", "WEEK", "MergeQueue", "Production", "Schedule", "Stage", "default_stages",
           "BurnRateAlert", "Defect", "Deployer", "BlueGreen", "Canary", "Recreate", "Rolling"]
