"""Seeded random streams: one per named component.

Every random draw in a run comes from a stream named after the component that draws
it (``"service:payments"``, ``"load:checkout"``). A stream's seed is derived from the
world's seed and a *stable* hash of its name (BLAKE2b, not Python's ``hash()``, which
changes from process to process). So adding a service does not change what any other
component draws, and the same seed gives the same run on every machine.
"""

import hashlib
import random


def stream_seed(seed, name):
    """The 64-bit seed of stream ``name`` in a world seeded with ``seed``."""
    digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def stream(seed, name):
    """A fresh ``random.Random`` for component ``name``."""
    return random.Random(stream_seed(seed, name))
