"""Ready-made scenarios: a whole model in one line, for lessons and comparisons.

Each returns a ``World`` (call ``.run()`` on it), built from the same public API a
learner uses, so its source is worth reading.

* ``shop(style="sync" | "async")`` — the checkout flow as a call chain or as events (lessons 01–03).
* ``read_your_writes(remedy=...)`` — a stale read and its remedies (lesson 03).
* ``cascade(...)`` — a slow dependency, and the policies that contain it (lesson 04).
* ``delivery(...)``, ``dual_write(...)``, ``checkout_saga(...)`` — async error handling (lesson 05).
"""

from .consistency import REMEDIES, read_your_writes
from .failures import cascade
from .messaging import checkout_saga, delivery, dual_write
from .shop import FLOW, SERVICES, TRACKING_WORK, WORK, WORKERS, Order, shop

__all__ = ["shop", "Order", "read_your_writes", "REMEDIES", "cascade", "delivery",
           "dual_write", "checkout_saga", "SERVICES", "WORK", "WORKERS", "FLOW",
           "TRACKING_WORK"]
