"""Changes and versions: what flows through a delivery pipeline.

A team commits **changes**. Most are fine; a change is **defective** with probability
``defect_rate``, and its defect is of one kind, drawn from a mix:

* ``"errors"``: once live, the service fails more of its requests;
* ``"slow"``: once live, the service works more slowly;
* ``"broken"``: once live, a share of its requests fail outright.

The pipeline's stages try to catch defects before production (``simlab.delivery.
pipeline``). The changes that get through are deployed together as a **version**: a
name such as ``"1.4"`` that carries the defects of its changes, so the deployment side
can make the live service misbehave.

Every draw comes from the pipeline's own seeded stream, so the same seed gives the same
changes, defects and all.
"""

from .. import checks
from ..errors import ModelError

#: The kinds of defect, and how often each comes up among defective changes by default.
DEFECT_KINDS = ("errors", "slow", "broken")
DEFAULT_MIX = {"errors": 0.5, "slow": 0.3, "broken": 0.2}


def check_mix(owner, mix):
    """A defect mix: a dict {kind: weight} over ``DEFECT_KINDS``, weights >= 0, not all 0.

    Returns it as a tuple of ``(kind, probability)`` pairs in the order of
    ``DEFECT_KINDS`` (a fixed order: the same seed must draw the same kinds).
    """
    if not isinstance(mix, dict) or not mix:
        checks.refuse(owner, "defects", "a dict of weights such as "
                      "{'errors': 0.5, 'slow': 0.3, 'broken': 0.2}", mix)
    for kind, weight in mix.items():
        if kind not in DEFECT_KINDS:
            raise ModelError(f"{owner}: unknown defect kind {kind!r} in defects; the kinds are "
                             f"{list(DEFECT_KINDS)}")
        checks.positive(owner, f"the weight of {kind!r} in defects", weight, least=0)
    total = sum(mix.values())
    if total == 0:
        raise ModelError(f"{owner}: the weights in defects are all 0; give at least one kind a "
                         "positive weight")
    return tuple((kind, mix[kind] / total) for kind in DEFECT_KINDS if kind in mix)


class Change:
    """One change in flight (its live state; its row of ``result.changes`` is ``row``).

    ``hotfix``: for a hotfix, the version it repairs ("" for the team's own changes);
    ``done``: for a hotfix, the SimPy event that its deployment's outcome triggers."""

    __slots__ = ("id", "commit", "defect", "row", "hotfix", "done")

    def __init__(self, change_id, commit, defect, row, hotfix="", done=None):
        self.id = change_id
        self.commit = commit
        self.defect = defect  # "" if it has none
        self.row = row
        self.hotfix = hotfix
        self.done = done


def draw_defect(rng, defect_rate, mix):
    """The defect of a new change: "" (none) with probability 1 - ``defect_rate``, else a
    kind drawn from ``mix`` (pairs of kind and probability, see ``check_mix``)."""
    if rng.random() >= defect_rate:
        return ""
    point = rng.random()
    for kind, share in mix:
        point -= share
        if point < 0:
            return kind
    return mix[-1][0]  # rounding left a sliver at the top: it belongs to the last kind


class Version(str):
    """A version of a service: its name (it *is* that string, ``"1.4"``), plus the ids of
    the changes it ships and the defects among them, as ``(change_id, kind)`` pairs.

    Example:
        >>> v = Version("1.4", changes=(7, 8), defects=((8, "slow"),))
        >>> v, v.changes, v.defects
        ('1.4', (7, 8), ((8, 'slow'),))
    """

    def __new__(cls, name, changes=(), defects=()):
        version = super().__new__(cls, name)
        version.changes = tuple(changes)
        version.defects = tuple(defects)
        return version

    @property
    def defective(self):
        return bool(self.defects)
