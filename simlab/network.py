"""The network between services during a run: the partitions and lossy links in force.

``Network`` owns them: a fault cuts the network (``cut``) and heals it (``heal``), and
the engine asks whether a hop is lost (``drops``: see ``simlab.calls.hop``). A fault
gets it as its ``network`` handle (see ``simlab.components.Handles``).
"""


class Network:
    """The network faults of one run (a component's ``network`` handle)."""

    def __init__(self, streams):
        self.streams = streams  # a lossy link draws from its run's shared stream
        # The partitions and lossy links in force, in the order they began. The run keeps
        # a reference to this list (``Run.network_faults``): the engine's fast path checks
        # that it is empty without a call.
        self.faults = []

    def cut(self, fault):
        """``fault`` (a partition or a lossy link, see ``simlab.faults``) is in force."""
        self.faults.append(fault)

    def heal(self, fault):
        """``fault`` is over."""
        self.faults.remove(fault)

    def drops(self, source, target):
        """Is a hop from service ``source`` to service ``target`` lost, now?"""
        return any(fault.drops(self.streams, source, target) for fault in self.faults)
