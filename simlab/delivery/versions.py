"""Versions of a service during a run, and the defects that make a version bad.

A ``LiveVersion`` stands in for its station in the handlers it serves (see
``simlab.services``: ``Station.route`` says which versions serve, and with what
weights); a ``Defect`` is what is wrong with it.
"""

from dataclasses import dataclass

from .. import checks
from ..errors import ModelError

_DEFECTS = {"errors": "rate", "slow": "factor", "broken": "share"}


@dataclass(frozen=True)
class Defect:
    """What is wrong with a version: it changes how the version serves.

    * ``Defect("errors", rate=0.2)`` — adds 0.2 to the service's error rate: a request
      fails after its handler ran;
    * ``Defect("slow", factor=3)`` — every ``ctx.work()`` takes 3 times longer;
    * ``Defect("broken", share=0.5)`` — half the requests fail at once, before their
      handler runs.

    A version with several defects has all of them.
    """

    kind: str
    rate: float = None
    factor: float = None
    share: float = None

    def __post_init__(self):
        checks.one_of("Defect", "kind", self.kind, tuple(_DEFECTS))
        needed = _DEFECTS[self.kind]
        for name in _DEFECTS.values():
            value = getattr(self, name)
            if name != needed and value is not None:
                raise ModelError(f"Defect({self.kind!r}) takes {needed}=..., not {name}="
                                 f"{value!r}")
        value = getattr(self, needed)
        if value is None:
            raise ModelError(f"Defect({self.kind!r}) needs {needed}=..., such as "
                             f"Defect({self.kind!r}, {needed}={0.2 if needed != 'factor' else 3})")
        if self.kind == "slow":
            checks.positive("Defect('slow')", "factor", value, least=1)
        else:
            checks.probability(f"Defect({self.kind!r})", needed, value)


#: The size of a defect named by its kind alone (as a pipeline's changes name them).
TYPICAL = {"errors": ("rate", 0.2), "slow": ("factor", 3.0), "broken": ("share", 0.5)}


def as_defects(defect, owner="deploy"):
    """``defect`` as a tuple of Defects: None, one Defect, or a list of them; a kind alone
    ("errors", "slow" or "broken") stands for a defect of that kind of typical size
    (``TYPICAL``: 20 % errors, 3 times slower, half the requests broken)."""
    if defect is None:
        return ()
    many = tuple(defect) if isinstance(defect, (list, tuple)) else (defect,)
    defects = []
    for one in many:
        if isinstance(one, str) and one in TYPICAL:
            size, value = TYPICAL[one]
            one = Defect(one, **{size: value})
        if not isinstance(one, Defect):
            checks.refuse(owner, "defect", "None, an sl.Defect(...), a kind (\"errors\", "
                          "\"slow\", \"broken\") or a list of them", one)
        defects.append(one)
    return tuple(defects)


def make_version(station, name, defects):
    """The ``LiveVersion`` of ``station`` named ``name``, with all of ``defects``."""
    slow, errors, fine = 1.0, 0.0, 1.0
    for defect in defects:
        if defect.kind == "slow":
            slow *= defect.factor
        elif defect.kind == "errors":
            errors += defect.rate
        else:
            fine *= 1.0 - defect.share  # a request gets through every broken part
    return LiveVersion(station, name, slow=slow, errors=min(errors, 1.0), broken=1.0 - fine)


class LiveVersion:
    """One version of a service during a run, serving a share of its traffic.

    A handler's context holds the version that serves its request, where it would
    otherwise hold the station: so what a version changes is read here (its name, on
    the spans and log lines of the request and of the calls it makes; the work time a
    "slow" defect multiplies; the error rate an "errors" defect adds to), and everything
    else (the workers, the store, the random streams) is the station's, looked up on it
    by ``__getattr__``. Made by the deployer (``simlab.delivery.deploy``).

    Args:
        slow: factor on every ``ctx.work()`` (on top of a slowdown fault).
        errors: probability added to the service's error rate (a request fails after
            its handler ran).
        broken: probability that a request fails at once, before its handler runs.
    """

    def __init__(self, station, name, slow=1.0, errors=0.0, broken=0.0):
        self.station = station
        self.version = name
        self.slow, self.errors, self.broken = slow, errors, broken
        self.clean = slow == 1.0 and errors == 0.0 and broken == 0.0
        self.broken_rng = station.run.streams.stream(f"broken:{station.name}:{name}")

    def __repr__(self):
        return f"LiveVersion({self.station.name!r}, {self.version!r})"

    def __getattr__(self, attribute):
        if attribute == "station":  # not set yet (a copy in the making): no recursion
            raise AttributeError(attribute)
        return getattr(self.station, attribute)

    @property
    def slowdown(self):
        return self.station.slowdown * self.slow

    @property
    def error_rate(self):
        return min(1.0, self.station.error_rate + self.errors)

    def fails(self):
        """Does the broken part of this version fail the request now?"""
        return self.broken_rng.random() < self.broken
