"""Hypothesis profiles for the property tests, chosen with ``HYPOTHESIS_PROFILE``.

* ``ci`` (the default): derandomized. Every run of the suite tries the same examples, so
  CI is reproducible and a failure shows up for everyone; each property is sized to keep
  the whole suite within minutes.
* ``deep``: fresh random examples at every run, ten times as many per property (see
  ``checks.examples``). Run it before closing a change to the simulator, and now and
  then, to look where the fixed examples never go::

      HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest -q tests

  A failure prints the example and a ``@reproduce_failure`` blob to replay it.

(For longer runs still, ``tests/soak/conservation.py`` checks the conservation laws on
as many random models as you ask for.)
"""

import os

from hypothesis import HealthCheck, settings

COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow],
          "print_blob": True}
settings.register_profile("ci", derandomize=True, **COMMON)
settings.register_profile("deep", derandomize=False, **COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
