"""The queue sampler: queue lengths and consumer lag, every ``World(sample_every=...)``."""

from .components import Periodic


class QueueSampler(Periodic):
    """Records ``result.queues`` (every service and consumer group) and ``result.lag``
    (every partition of every group) every ``every`` seconds until the run has drained."""

    def __init__(self, handles, every):
        super().__init__(every)
        self.stations = list(handles.services.values())
        self.groups = handles.messaging.groups()
        self.sample = handles.recorder.queues.add
        self.lag = handles.recorder.lag.add

    def tick(self, now):
        for station in self.stations:
            self.sample(time=now, kind="service", service=station.name, broker="", topic="",
                        group="", queued=len(station.waiting), busy=station.busy)
        for group in self.groups:
            broker, topic, name = group.names
            self.sample(time=now, kind="group", service="", broker=broker, topic=topic,
                        group=name, queued=sum(len(q) for q in group.queues),
                        busy=sum(len(b) for b in group.in_progress))
            for partition in range(len(group.queues)):
                count, oldest = group.waiting(partition)
                self.lag(time=now, broker=broker, topic=topic, group=name, partition=partition,
                         messages=count, seconds=0.0 if oldest is None else now - oldest)
