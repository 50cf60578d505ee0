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


class Streams:
    """The random streams of one run (a component's ``streams`` handle).

    ``stream(name)`` gives a fresh stream, for a part that keeps its own (a load, a
    pipeline). ``shared(name)`` gives the one stream of that name in this run, made on
    first use, for draws that several parts make in turn (the losses on one network link).
    """

    def __init__(self, seed):
        self.seed = seed
        self._shared = {}

    def stream(self, name):
        """A fresh seeded ``random.Random`` for component ``name``."""
        return stream(self.seed, name)

    def shared(self, name):
        """The one stream of component ``name`` in this run (made on first use)."""
        found = self._shared.get(name)
        if found is None:
            found = self._shared[name] = stream(self.seed, name)
        return found
