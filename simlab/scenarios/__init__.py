"""Ready-made scenarios: a whole model in one line, for lessons and comparisons.

Each returns a ``World`` (call ``.run()`` on it), built from the same public API a
learner uses, so its source is worth reading.

* ``shop(style="sync" | "async")`` — the checkout flow as a call chain or as events (lessons 01–03).
* ``flash_sale(...)`` — a burst of orders on the async shop: backlogs and lag (lessons 02–03).
* ``address_book(...)``, ``read_your_writes(remedy=...)`` — order per key, and a stale
  read and its remedies (lesson 03).
* ``cascade(...)``, ``flaky_world(p, attempts)`` — a slow dependency and the policies that
  contain it; the arithmetic of retries (lesson 04).
* ``billing_world(...)``, ``delivery(...)``, ``dual_write(...)``, ``checkout_saga(...)`` —
  async error handling (lesson 05).
* ``mystery(name, fixed=False)``, ``dispatch(...)`` — a ride-hailing service in the style of
  Jaeger's HotROD with a planted performance problem, to find with traces and logs
  (lesson 06); ``MYSTERIES`` says where each is and which knob fixes it.
* ``release(batching=..., runners=..., strategy=...)``, ``one_release(strategy, defect)`` —
  a delivery pipeline deploying a live shop's orders service; one version deployed with
  each strategy, and ``blast_radius`` (lesson 07).
"""

from .backlogs import address_book, flash_sale
from .consistency import REMEDIES, read_your_writes
from .failures import cascade, flaky_world
from .messaging import billing_world, checkout_saga, delivery, dual_write
from .mysteries import MYSTERIES, Ride, dispatch, mystery
from .release import blast_radius, one_release, release
from .shop import FLOW, SERVICES, TRACKING_WORK, WORK, WORKERS, Order, shop

__all__ = ["shop", "Order", "flash_sale", "address_book", "read_your_writes", "REMEDIES",
           "cascade", "flaky_world", "billing_world", "delivery",
           "dual_write", "checkout_saga", "SERVICES", "WORK", "WORKERS", "FLOW",
           "TRACKING_WORK", "mystery", "dispatch", "MYSTERIES", "Ride", "release",
           "one_release", "blast_radius"]
