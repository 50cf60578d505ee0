"""Partitions: a key picks a partition, order per key holds, and consumer lag is measured.

A topic declared with ``partitions=n`` is a log (Kafka-like): a message's key picks its
partition with a stable hash, each partition is read by one consumer of a group, in
order, and consumers beyond the number of partitions sit idle. A topic without
partitions is a shared queue: the consumers of a group compete for every message.

``result.lag`` samples, per group and partition, how many messages are published but
not yet settled (acked or dead-lettered) and the age of the oldest of them.
All times are simulated seconds.
"""

import json
import os
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pytest
from checks import max_overlap, spans_of

import simlab as sl

TESTS = os.path.dirname(os.path.abspath(__file__))


# -- a small keyed pipeline


def keyed_world(partitions=3, consumers=None, workers=5, work=sl.Exp(mean=0.05),
                error_rate=0.0, crash=None, keys=lambda order: f"customer-{order.id % 5}",
                rate=20.0, duration=6.0, burst=None, max_attempts=30, redelivery_delay=0.05,
                seed=4, sample_every=None):
    """``orders.place`` writes the order's key and publishes it on topic ``orders``;
    group ``shipping`` (a read model of orders) consumes it.

    Args:
        crash: ``(at, duration)`` of a crash of shipping, or None.
        burst: ``(size, over, start)`` of a Burst added to the Poisson load, or None.
        max_attempts: high by default, so that ``error_rate`` never dead-letters
            (0.3 ** 30 is about 2e-16).
    """
    world = sl.World(seed=seed, sample_every=sample_every)
    orders = world.service("orders", workers=None, work=sl.Exp(mean=0.005))
    shipping = world.service("shipping", workers=workers, work=work, error_rate=error_rate)
    bus = world.broker("bus", max_attempts=max_attempts, redelivery_delay=redelivery_delay)
    bus.topic("orders", partitions=partitions)

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work()
        key = keys(order)
        ctx.db.write(key)
        ctx.publish(bus, "orders", order, key=key)

    @shipping.consumer(bus, "orders", group="shipping", consumers=consumers,
                       view_of="orders")
    def ship(ctx, order):
        yield ctx.work()
        ctx.db.write(keys(order))

    if rate:
        world.load(sl.Poisson(rate=rate), target=("orders", "place"), duration=duration)
    if burst:
        size, over, start = burst
        world.load(sl.Burst(size=size, over=over), target=("orders", "place"), start=start)
    if crash:
        world.faults.crash("shipping", at=crash[0], duration=crash[1])
    return world


def events(result, event):
    messages = result.messages
    return messages[messages.event == event]


def consumers_at_once(result, service="shipping", since=0.0):
    """The most consumer spans of ``service``, among those starting at ``since`` or
    later, open at one instant."""
    spans = spans_of(result, service, kind="consumer")
    spans = spans[spans.start >= since]
    return max_overlap(spans.start, spans.end)


# -- order per key


def out_of_order_keys(messages):
    """Keys whose messages were acked in another order than they were published.

    Message ids count up in publish order, so per key the acked ids, in ack-time order,
    must increase."""
    acks = messages[messages.event == "ack"].sort_values("time", kind="stable")
    return [key for key, one in acks.groupby("key")
            if not one.message_id.is_monotonic_increasing]


def check_order_per_key(result):
    published = events(result, "publish")
    assert set(events(result, "ack").message_id) == set(published.message_id)  # all acked
    assert out_of_order_keys(result.messages) == []


@pytest.mark.parametrize("consumers", [1, 2, 3, 5])
def test_order_per_key_holds_under_redelivery(consumers):
    # A third of the deliveries fail and are retried in place.
    result = keyed_world(consumers=consumers, error_rate=0.3).run()
    assert len(events(result, "redeliver")) > 20
    check_order_per_key(result)


@pytest.mark.parametrize("consumers", [1, 3, 5])
def test_order_per_key_holds_through_a_crash_of_the_consumers(consumers):
    # No injected errors here: every redelivery is a message the crash cut short.
    result = keyed_world(consumers=consumers, crash=(2.0, 1.0)).run()
    assert len(events(result, "redeliver")) >= 1
    # Nothing was acked while shipping was down.
    acks = events(result, "ack")
    assert not ((acks.time > 2.0) & (acks.time < 3.0)).any()
    check_order_per_key(result)


def test_a_shared_queue_does_not_keep_order_per_key():
    # The control case: without partitions, three consumers with random work (0.1 s on
    # average, while each key gets a message every 0.1 s) overtake each other, so the
    # check above can fail.
    result = keyed_world(partitions=None, consumers=3, work=sl.Exp(mean=0.1),
                         keys=lambda order: f"customer-{order.id % 2}").run()
    assert out_of_order_keys(result.messages) != []


# -- keys pick partitions stably


def key_partitions(seed=1):
    """{key: partition} from one run, checking that each key used one partition only."""
    result = keyed_world(keys=lambda order: f"customer-{order.id % 12}", duration=3.0,
                         seed=seed).run()
    published = events(result, "publish")
    per_key = published.groupby("key").partition.unique()
    assert (per_key.map(len) == 1).all(), "a key went to two partitions"
    return {key: int(parts[0]) for key, parts in per_key.items()}


def test_a_key_always_goes_to_the_same_partition():
    first = key_partitions(seed=1)
    assert len(first) == 12
    assert set(first.values()) == {0, 1, 2}  # the keys do spread over the partitions
    assert key_partitions(seed=2) == first   # another run, other arrivals: same mapping


def test_key_partitions_do_not_depend_on_the_process_hash_seed():
    # Python's hash() of a str changes from process to process (PYTHONHASHSEED);
    # the partition of a key must not.
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
              "from test_partitions import key_partitions; "
              "print(json.dumps(key_partitions()))")
    here = key_partitions()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", script, TESTS], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        assert json.loads(out.stdout) == here, f"PYTHONHASHSEED={hash_seed}"


def test_a_topic_key_function_picks_the_key_when_publish_gives_none():
    world = sl.World(seed=1)
    orders = world.service("orders", workers=None)
    shipping = world.service("shipping", workers=2, work=0.01)
    bus = world.broker("bus")
    topic = bus.topic("orders", partitions=4, key=lambda order: f"customer-{order.id % 3}")

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work(0.01)
        ctx.publish(bus, "orders", order)  # no key: the topic's function gives it

    @shipping.consumer(bus, "orders")
    def ship(ctx, order):
        yield ctx.work()

    world.load(sl.Poisson(rate=20), target=("orders", "place"), duration=2)
    result = world.run()
    published = events(result, "publish")
    assert set(published.key) == {"customer-0", "customer-1", "customer-2"}
    for row in published.itertuples():
        assert row.partition == topic.partition_of(row.key, row.message_id)


# -- consumers and partitions


def test_consumers_beyond_the_partitions_sit_idle():
    # Two partitions, six consumers: only two ever work at once ...
    six = keyed_world(partitions=2, consumers=6, workers=6, rate=40).run()
    assert consumers_at_once(six) == 2
    # ... and the group behaves exactly as with two consumers: same seed, same acks,
    # same consistency lags.
    two = keyed_world(partitions=2, consumers=2, workers=6, rate=40).run()
    assert len(six.consistency) > 100
    assert six.consistency.lag.tolist() == two.consistency.lag.tolist()
    assert events(six, "ack").time.tolist() == events(two, "ack").time.tolist()


def test_a_shared_queue_lets_every_consumer_compete():
    result = keyed_world(partitions=None, consumers=6, workers=6, rate=40).run()
    assert consumers_at_once(result) > 2


# -- consumer changes: bus.scale rebalances a group during the run


def burst_world(keys, workers=4, consumers=1, partitions=None, queue=None, max_attempts=5,
                handle=None):
    """At t=0 (give or take a microsecond) one request publishes a message for each of
    ``keys``, in order, on topic "jobs"; group "worker" handles each in exactly 1 s (or
    with ``handle``). Returns the world and its broker."""
    world = sl.World(seed=1)
    front = world.service("front", workers=None)
    worker = world.service("worker", workers=workers, work=1.0, queue=queue)
    bus = world.broker("bus", max_attempts=max_attempts)
    bus.topic("jobs", partitions=partitions)

    @front.endpoint("start")
    def start(ctx, payload):
        yield ctx.work(0)
        for key in keys:
            ctx.publish(bus, "jobs", payload, key=key)

    def handle_in_a_second(ctx, payload):
        yield ctx.work()

    worker.consumer(bus, "jobs", group="worker", consumers=consumers)(
        handle or handle_in_a_second)
    world.load(sl.Burst(size=1, over=1e-6), target=("front", "start"))
    return world, bus


def key_on(partition, partitions):
    """A key that a topic of ``partitions`` partitions sends to ``partition``."""
    topic = sl.World().broker("bus").topic("jobs", partitions=partitions)
    return next(key for key in "abcdefghijklmnop" if topic.partition_of(key, 0) == partition)


def two_partition_world(consumers, scale_to=None, at=None, partitions=2, on=(0, 1),
                        per_key=4):
    """``per_key`` messages for each of two keys, on partitions ``on`` (see
    ``burst_world``). Returns the result and the two keys."""
    first, second = (key_on(partition, partitions) for partition in on)
    world, bus = burst_world([first, second] * per_key, consumers=consumers,
                             partitions=partitions)
    if scale_to is not None:
        bus.scale("jobs", "worker", consumers=scale_to, at=at)
    return world.run(), first, second


def ack_times(result, key):
    """The ack times of ``key``'s messages, rounded to the millisecond."""
    acks = events(result, "ack")
    return [round(t, 3) for t in acks[acks.key == key].time]


def test_one_consumer_reads_two_partitions_in_turn():
    result, first, second = two_partition_world(consumers=1)
    assert ack_times(result, first) == [1.0, 3.0, 5.0, 7.0]
    assert ack_times(result, second) == [2.0, 4.0, 6.0, 8.0]


def test_scaling_out_hands_a_partition_to_the_new_consumer_at_once():
    # At t=2.5 the one consumer is handling first's second message (since 2.0); the
    # other partition goes to the new consumer, which starts on it straight away.
    result, first, second = two_partition_world(consumers=1, scale_to=2, at=2.5)
    assert ack_times(result, first) == [1.0, 3.0, 4.0, 5.0]
    assert ack_times(result, second) == [2.0, 3.5, 4.5, 5.5]
    assert "rebalanced: 1 -> 2 consumers" in " ".join(result.logs.message)


def test_a_partition_moves_only_after_its_message_in_hand_is_done():
    # At t=1.5 the one consumer is handling second's first message (1.0 to 2.0). Its
    # partition moves to the new consumer, which must wait until 2.0: starting at 1.5
    # could finish second's next message before the first one.
    result, first, second = two_partition_world(consumers=1, scale_to=2, at=1.5)
    assert ack_times(result, second) == [2.0, 3.0, 4.0, 5.0]
    assert ack_times(result, first) == [1.0, 3.0, 4.0, 5.0]


def test_scaling_in_leaves_one_consumer_for_both_partitions():
    # Two consumers until t=2.5, then one. Each finishes its third message at 3.0; the
    # leaving one stops, and the survivor reads both partitions in turn.
    result, first, second = two_partition_world(consumers=2, scale_to=1, at=2.5)
    assert ack_times(result, first) == [1.0, 2.0, 3.0, 4.0]
    assert ack_times(result, second) == [1.0, 2.0, 3.0, 5.0]
    assert consumers_at_once(result, "worker", since=3.0) == 1


def test_an_idle_consumer_that_gains_a_busy_partition_starts_on_it():
    # Four partitions, two consumers: consumer 0 reads 0 and 2 (both empty: it idles),
    # consumer 1 reads 1 and 3, where all the messages are. Three consumers from t=0.5:
    # partition 3 goes to consumer 0, which starts on it at once.
    result, first, second = two_partition_world(consumers=2, partitions=4, on=(1, 3),
                                                per_key=3, scale_to=3, at=0.5)
    assert ack_times(result, first) == [1.0, 2.0, 3.0]
    assert ack_times(result, second) == [1.5, 2.5, 3.5]


def test_scaling_beyond_the_partitions_changes_nothing():
    alone, first, _ = two_partition_world(consumers=1, partitions=1, on=(0, 0))
    more, _, _ = two_partition_world(consumers=1, partitions=1, on=(0, 0), scale_to=4, at=0.5)
    assert ack_times(more, first) == ack_times(alone, first) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0,
                                                                   7.0, 8.0]


def test_a_replay_and_a_scale_in_at_the_same_instant_lose_nothing():
    # A shared queue with two idle consumers; at t=5 a dead letter is replayed and the
    # group shrinks to one consumer. The replay wakes an idle consumer, and it may be the
    # one that leaves: it must pass the message on, not strand it.
    def handle(ctx, payload):
        yield ctx.work()
        if ctx.now < 2:
            raise sl.ServiceError("poison (fixed at t=2)")

    world, bus = burst_world([0], workers=2, consumers=2, max_attempts=1, handle=handle)
    bus.replay("jobs", "worker", at=5.0)
    bus.scale("jobs", "worker", consumers=1, at=5.0)
    result = world.run()
    assert result.message_ledger().state.tolist() == ["acked"]
    assert round(events(result, "ack").time.iloc[0], 3) == 6.0


@pytest.mark.parametrize("partitions", [None, 4])
def test_scaling_in_and_out_again_never_runs_more_consumers_than_workers(partitions):
    # Two workers and no waiting room: a third handler at once would be refused. At 0.5
    # the group shrinks to one consumer (the other finishes its message until 1.0), and
    # at 0.6 it grows back to two: the leaving consumer comes back, no third one starts.
    world, bus = burst_world(range(16), workers=2, consumers=2, partitions=partitions, queue=0,
                             max_attempts=1)
    bus.scale("jobs", "worker", consumers=1, at=0.5)
    bus.scale("jobs", "worker", consumers=2, at=0.6)
    result = world.run()
    assert (result.message_ledger().state == "acked").all()
    assert consumers_at_once(result, "worker") == 2


def test_consumers_beyond_the_partitions_can_leave_again():
    world, bus = burst_world(range(4), partitions=1)
    bus.scale("jobs", "worker", consumers=4, at=0.5)
    bus.scale("jobs", "worker", consumers=1, at=1.5)
    result = world.run()
    assert [round(t, 3) for t in events(result, "ack").time] == [1.0, 2.0, 3.0, 4.0]


def test_scaling_while_the_broker_is_down_takes_effect_when_it_is_back():
    world, bus = burst_world(range(8), partitions=4)
    world.faults.broker_outage("bus", at=0.5, duration=1.0)
    bus.scale("jobs", "worker", consumers=4, at=1.0)
    result = world.run()
    acks = [round(t, 3) for t in events(result, "ack").time]
    # One consumer until the outage; delivery resumes at 1.5 with four consumers.
    assert acks[0] == 1.0 and all(t >= 1.5 for t in acks[1:])
    assert acks[-1] < 1.5 + 7 * 1.0  # faster than one consumer would be
    check_order_per_key(result)


@pytest.mark.parametrize("partitions", [3, None])
def test_scaling_a_shared_queue_or_a_log_out_and_in_keeps_every_message(partitions):
    world = keyed_world(partitions=partitions, consumers=1, error_rate=0.3)
    bus = world.brokers["bus"]
    for consumers, at in ((3, 1.0), (5, 2.0), (2, 3.0), (1, 4.0)):
        bus.scale("orders", "shipping", consumers=consumers, at=at)
    result = world.run()
    published = set(events(result, "publish").message_id)
    assert set(events(result, "ack").message_id) == published
    if partitions is not None:
        check_order_per_key(result)
    # Five consumers at most, and only between 2 s and 3 s (plus the messages in hand).
    assert consumers_at_once(result) <= 5
    assert consumers_at_once(result, since=4.0 + 1.0) == 1  # one consumer left


@pytest.mark.parametrize("consumers", [2, 5])
def test_order_per_key_holds_across_rebalances_under_redelivery(consumers):
    # A third of the deliveries fail and are retried in place, so messages stay in
    # hand a long while: a rebalance often moves a partition whose message is in hand.
    world = keyed_world(partitions=5, consumers=1, error_rate=0.3, rate=40)
    bus = world.brokers["bus"]
    for n, at in enumerate([0.5 + 0.37 * i for i in range(14)]):
        bus.scale("orders", "shipping", consumers=1 + (n % consumers), at=at)
    result = world.run()
    assert len(events(result, "redeliver")) > 20
    check_order_per_key(result)


# -- the consumer lag table


def test_the_lag_table_has_its_columns_even_without_a_broker():
    world = sl.World(seed=1)
    api = world.service("api")

    @api.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    world.load(sl.Poisson(rate=5), target=("api", "get"), duration=1)
    lag = world.run().lag
    assert lag.empty and list(lag.columns) == list(sl.schema.LAG)


def test_the_lag_table_has_one_row_per_partition_per_sample():
    result = keyed_world(partitions=3, consumers=3).run()
    lag = result.lag
    assert list(lag.columns) == list(sl.schema.LAG)
    assert set(zip(lag.topic, lag.group)) == {("orders", "shipping")}
    assert lag.groupby("time").partition.apply(lambda p: sorted(p) == [0, 1, 2]).all()
    # The same sample times as the group's rows in the queues table.
    samples = result.queues[result.queues.kind == "group"].time
    assert lag.time.unique().tolist() == samples.tolist()
    assert (lag.messages >= 0).all() and (lag.seconds >= 0).all()
    assert (lag.seconds[lag.messages == 0] == 0).all()
    assert lag.messages.max() > 0


BURST, OVER, START = 100, 0.5, 2.0  # messages, seconds they arrive within, when
WORK, CONSUMERS, EVERY = 0.05, 2, 0.05


def test_consumer_lag_rises_in_a_burst_and_drains_back_to_zero():
    world = keyed_world(partitions=CONSUMERS, consumers=CONSUMERS, work=sl.Constant(WORK),
                        keys=lambda order: order.id, rate=None, burst=(BURST, OVER, START),
                        sample_every=EVERY)
    result = world.run()
    total = result.lag.groupby("time").messages.sum()
    assert (total[total.index < START] == 0).all()  # nothing yet
    # By the first sample after the burst (at most OVER + EVERY after START) all BURST
    # messages are published, and 2 consumers have acked at most one per WORK each.
    at_least = BURST - CONSUMERS * (OVER + EVERY) / WORK   # 100 - 22 = 78
    assert total.max() >= at_least
    # It drains: zero from the last ack on, and the last sample is zero.
    last_ack = events(result, "ack").time.max()
    assert (total[total.index >= last_ack] == 0).all()
    assert total.iloc[-1] == 0
    # Nothing is queued for longer than the whole burst takes to drain.
    assert result.lag.seconds.max() <= BURST / CONSUMERS * WORK + OVER


LITTLE_EVERY = 0.01


@lru_cache(maxsize=None)
def busy_run(partitions):
    """Steady load plus a burst, random work (so that no event falls exactly on a sample
    instant), a fifth of the deliveries failing and redelivered 0.2 s later; sampled
    every 10 ms."""
    return keyed_world(partitions=partitions, consumers=3, work=sl.Exp(mean=0.1),
                       error_rate=0.2, redelivery_delay=0.2,
                       keys=lambda order: f"customer-{order.id % 12}", rate=20, duration=8,
                       burst=(60, 1.0, 3.0), sample_every=LITTLE_EVERY).run()


def unsettled_at(result, partition, times):
    """From the message events alone: at each of ``times``, how many messages of
    ``partition`` were published and not yet settled, and the age of the oldest."""
    messages = result.messages[result.messages.partition == partition]
    published = messages[messages.event == "publish"].set_index("message_id").time
    settled = messages[messages.event.isin(["ack", "dead_letter"])].set_index("message_id")
    settled = settled.time.reindex(published.index, fill_value=np.inf)
    t = times[:, None]
    alive = (published.to_numpy() <= t) & (t < settled.to_numpy())
    count = alive.sum(axis=1)
    oldest = np.where(alive, published.to_numpy(), np.inf).min(axis=1, initial=np.inf)
    return count, np.where(count > 0, times - oldest, 0.0)


@pytest.mark.parametrize("partitions", [3, None], ids=["partitioned", "shared-queue"])
def test_lag_messages_agree_with_the_message_events(partitions):
    # A message awaiting redelivery is unsettled too, in a log and in a shared queue.
    result = busy_run(partitions)
    assert len(events(result, "redeliver")) > 50
    for partition, rows in result.lag.groupby("partition"):
        count, _ = unsettled_at(result, partition, rows.time.to_numpy())
        assert count.max() > 1  # every partition had a backlog at some point
        assert rows.messages.tolist() == count.tolist()


@pytest.mark.parametrize("partitions", [3, None], ids=["partitioned", "shared-queue"])
def test_lag_seconds_agree_with_the_message_events(partitions):
    result = busy_run(partitions)
    for partition, rows in result.lag.groupby("partition"):
        _, age = unsettled_at(result, partition, rows.time.to_numpy())
        assert rows.seconds.to_numpy() == pytest.approx(age)


def test_lag_seconds_count_a_message_put_back_behind_newer_ones():
    """One consumer, 0.5 s of work per message; message 1 (published at 1.0) fails its
    first delivery at 1.5 and goes to the back of the queue, behind messages 2 and 3
    (published at 1.1 and 1.2). From 1.5 to 2.0 the consumer handles message 2 and the
    queue holds [3, 1]: the oldest unsettled message is still message 1, so at a sample
    at time t the lag in seconds is t - 1.0."""
    failed = []
    world = sl.World(seed=1, sample_every=0.1)
    orders = world.service("orders", workers=None)
    shipping = world.service("shipping", workers=1, work=sl.Constant(0.5))
    bus = world.broker("bus", topics=["orders"], redelivery_delay=0)

    @orders.endpoint("place")
    def place(ctx, order):
        for number in (1, 2, 3):
            ctx.publish(bus, "orders", number)
            yield ctx.sleep(0.1)

    @shipping.consumer(bus, "orders")
    def ship(ctx, number):
        yield ctx.work()
        if number == 1 and not failed:
            failed.append(number)
            raise sl.ServiceError("first delivery fails")

    world.load(sl.Users(n=1, think=sl.Constant(1.0)), target=("orders", "place"),
               duration=1.5)
    result = world.run()
    lag = result.lag
    while_put_back = lag[(lag.time > 1.55) & (lag.time < 1.95)]  # samples 1.6 ... 1.9
    assert len(while_put_back) == 4 and (while_put_back.messages == 3).all()
    assert while_put_back.seconds.to_numpy() == pytest.approx(while_put_back.time - 1.0)


def test_littles_law_for_a_partitioned_consumer_group():
    """L = lambda * W: the time-average number of unsettled messages equals throughput
    times the mean time from publish to ack.

    Exactly, the area under the unsettled-count curve is the sum over messages of their
    time in the system, W_m. The lag table samples that curve every dt: a message is seen
    in (W_m / dt) +- 1 samples, so dt * (sum of samples) is within N * dt of sum(W_m).
    """
    result = busy_run(partitions=3)
    published = events(result, "publish").set_index("message_id").time
    acked = events(result, "ack").set_index("message_id").time
    assert len(acked) == len(published) > 200
    in_system = (acked - published).to_numpy()            # W_m
    samples = result.lag.groupby("time").messages.sum()   # all partitions, per sample
    horizon = len(samples) * LITTLE_EVERY                 # time the samples cover
    time_average = samples.mean()                         # L
    throughput = len(in_system) / horizon                 # lambda
    tolerance = len(in_system) * LITTLE_EVERY / horizon   # N * dt, as an average
    assert abs(time_average - throughput * in_system.mean()) <= tolerance
    assert tolerance < 0.05 * time_average  # ... a tight check, not a loose one


def test_a_message_waiting_for_redelivery_still_counts_in_the_lag_of_a_shared_queue():
    # A regression test: a shared queue puts a failed message aside until its
    # redelivery, and it must still count as unsettled meanwhile.
    # One message published at ~t0; its first delivery fails after 0.2 s and is
    # redelivered 1 s later. It stays unsettled throughout, so every sample between
    # publish and ack must count it.
    failed = []
    world = sl.World(seed=1, sample_every=0.1)
    orders = world.service("orders", workers=None)
    shipping = world.service("shipping", workers=1, work=sl.Constant(0.2))
    bus = world.broker("bus", topics=["orders"], redelivery_delay=1.0)

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work(0.05)
        ctx.publish(bus, "orders", order)

    @shipping.consumer(bus, "orders")
    def ship(ctx, order):
        yield ctx.work()
        if not failed:
            failed.append(order.id)
            raise sl.ServiceError("first delivery fails")

    world.load(sl.Burst(size=1, over=0.01), target=("orders", "place"))
    result = world.run()
    published = events(result, "publish").time.iloc[0]
    acked = events(result, "ack").time.iloc[0]
    lag = result.lag
    between = lag[(lag.time > published) & (lag.time < acked)]
    assert len(between) > 10
    assert (between.messages == 1).all()


# -- the fluid estimate of how long a backlog takes to drain


def test_a_burst_drains_in_burst_times_work_over_consumers():
    """B messages onto c consumers (one per partition, B / c each) with constant work w
    drain in B * w / c seconds. The burst arrives within 0.05 s, less than w, so each
    consumer works back to back from its partition's first message: its last ack is
    exactly (B / c) * w after that message was published."""
    size, consumers, work, over = 60, 3, 0.1, 0.05
    world = sl.World(seed=2)
    orders = world.service("orders", workers=None)
    workers = world.service("workers", workers=consumers, work=sl.Constant(work))
    bus = world.broker("bus")
    topic = bus.topic("jobs", partitions=consumers)
    # One key per partition, found with the topic's own hash; request n uses key n mod c.
    by_partition = {}
    for i in range(100):
        by_partition.setdefault(topic.partition_of(f"job-{i}", 0), f"job-{i}")
    keys = [by_partition[p] for p in range(consumers)]

    @orders.endpoint("submit")
    def submit(ctx, order):
        yield ctx.work(0)
        ctx.publish(bus, "jobs", order, key=keys[order.id % consumers])

    @workers.consumer(bus, "jobs")
    def run_job(ctx, order):
        yield ctx.work()

    world.load(sl.Burst(size=size, over=over), target=("orders", "submit"), start=1.0)
    result = world.run()
    published, acked = events(result, "publish"), events(result, "ack")
    assert published.groupby("partition").size().tolist() == [size // consumers] * consumers
    for partition in range(consumers):
        first = published[published.partition == partition].time.min()
        last = acked[acked.partition == partition].time.max()
        assert last - first == pytest.approx(size / consumers * work)
    drained = acked.time.max() - 1.0  # from the start of the burst
    assert size * work / consumers <= drained <= size * work / consumers + over


# -- bad input


@pytest.mark.parametrize("partitions", [0, -1, 2.5, True])
def test_partitions_must_be_a_whole_number_of_one_or_more(partitions):
    bus = sl.World().broker("bus")
    with pytest.raises(sl.ModelError, match=r"topic bus/orders: partitions must be a whole "
                                            r"number, 1 or more"):
        bus.topic("orders", partitions=partitions)


def test_a_key_function_that_raises_fails_at_the_first_publish():
    calls = []

    def bad_key(order):
        calls.append(order)
        return order.customer  # a Payload has only an id

    world = sl.World(seed=1)
    orders = world.service("orders", workers=None)
    bus = world.broker("bus")
    bus.topic("orders", partitions=2, key=bad_key)

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work(0.01)
        ctx.publish(bus, "orders", order)

    world.load(sl.Poisson(rate=20), target=("orders", "place"), duration=2)
    with pytest.raises(sl.ModelError, match=r"the key function of topic bus/orders raised "
                                            r"AttributeError"):
        world.run()
    assert len(calls) == 1  # the first publish stopped the run


def test_a_key_must_be_a_function():
    bus = sl.World().broker("bus")
    with pytest.raises(sl.ModelError, match="topic bus/orders: key must be a function of the "
                                            "payload, such as lambda order: order.id"):
        bus.topic("orders", partitions=2, key="id")


def test_at_most_as_many_consumers_as_workers():
    world = sl.World()
    bus = world.broker("bus")
    bus.topic("orders", partitions=4)
    shipping = world.service("shipping", workers=3)
    with pytest.raises(sl.ModelError, match="4 consumers, but service 'shipping' has 3 workers"
                                            ".*use at most 3 consumers or more workers"):
        @shipping.consumer(bus, "orders", consumers=4)
        def ship(ctx, order):
            yield ctx.work()


@pytest.mark.parametrize("args, match", [
    (("orders", "billing", 2, 1.0),
     r"scale: topic bus/orders has no consumer group 'billing'; it has \['shipping'\]"),
    (("ordres", "shipping", 2, 1.0), r"broker 'bus' has no topic 'ordres'"),
    (("orders", "shipping", 4, 1.0),
     r"scale bus/orders/shipping: 4 consumers, but service 'shipping' has 3 workers"),
    (("orders", "shipping", 0, 1.0),
     r"scale bus/orders/shipping: consumers must be a whole number, 1 or more"),
    (("orders", "shipping", 2, -1), r"scale: at must be a non-negative number of seconds, got -1"),
    (("orders", "shipping", 2, "10"), r"scale: at must be a non-negative number of seconds, got '10'"),
])
def test_bad_scalings_are_refused_when_declared(args, match):
    world = sl.World()
    bus = world.broker("bus")
    bus.topic("orders", partitions=4)

    @world.service("shipping", workers=3).consumer(bus, "orders", group="shipping")
    def ship(ctx, order):
        yield ctx.work()

    with pytest.raises(sl.ModelError, match=match):
        bus.scale(*args)


def test_subscribing_to_an_undeclared_topic_names_it_and_the_fix():
    world = sl.World()
    bus = world.broker("bus")
    bus.topic("orders", partitions=2)
    with pytest.raises(sl.ModelError, match=r"has no topic 'ordres'; known topics: "
                                            r"\['orders'\]\. Declare it first with "
                                            r"bus\.topic\('ordres'\)"):
        @world.service("shipping").consumer(bus, "ordres")
        def ship(ctx, order):
            yield ctx.work()


def test_publishing_to_an_unknown_topic_names_it_and_the_fix():
    world = sl.World(seed=1)
    orders = world.service("orders", workers=None)
    bus = world.broker("bus")
    bus.topic("orders", partitions=2)

    @orders.endpoint("place")
    def place(ctx, order):
        yield ctx.work(0.01)
        ctx.publish(bus, "order", order, key=order.id)

    world.load(sl.Poisson(rate=20), target=("orders", "place"), duration=1)
    with pytest.raises(sl.ModelError, match=r"broker 'bus' has no topic 'order'.*"
                                            r"Declare it with bus\.topic\('order'\)"):
        world.run()


@pytest.mark.parametrize("make, match", [
    (lambda: sl.Burst(size=0), "Burst: size must be a whole number, 1 or more"),
    (lambda: sl.Burst(size=2.5), "Burst: size must be a whole number"),
    (lambda: sl.Burst(size=10, over=0), "Burst: over must be a positive number of seconds"),
    (lambda: sl.Burst(size=10, over=-1.0), "Burst: over must be a positive number of seconds"),
], ids=["size-zero", "size-fraction", "over-zero", "over-negative"])
def test_bad_bursts_are_refused(make, match):
    with pytest.raises(sl.ModelError, match=match):
        make()


def test_a_burst_with_a_contradicting_duration_is_refused():
    world = sl.World()
    world.service("orders")
    with pytest.raises(sl.ModelError, match="a Burst lasts its own `over` seconds; leave "
                                            "duration out"):
        world.load(sl.Burst(size=10, over=1.0), target=("orders", "place"), duration=2.0)
    # Saying the same thing twice is allowed: the burst's load ends after `over`.
    world.load(sl.Burst(size=10, over=1.0), target=("orders", "place"), duration=1.0)
    assert world.load_end == 1.0


def test_consecutive_keys_spread_over_partitions_as_if_at_random():
    """Order ids are consecutive; their partitions must look random (a Poisson stream then
    splits into Poisson streams, and each partition is the queue theory expects). A weak
    hash such as CRC32 maps consecutive ids in a regular pattern: two neighbours then
    almost never share a partition, against 1 in P for random choices."""
    world = sl.World(seed=1)
    bus = world.broker("bus")
    topic = bus.topic("orders", partitions=4)
    partitions = [topic.partition_of(key, 0) for key in range(1, 10_001)]
    same = np.mean([a == b for a, b in zip(partitions, partitions[1:])])
    standard_error = (0.25 * 0.75 / len(partitions)) ** 0.5
    assert abs(same - 0.25) < 4 * standard_error
    counts = np.bincount(partitions, minlength=4)
    assert np.all(np.abs(counts - 2500) < 4 * (10_000 * 0.25 * 0.75) ** 0.5)
