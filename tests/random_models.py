"""Random models under random faults, and the conservation laws every run must obey.

``plan(rng)`` draws a model from a ``random.Random``: a few services calling each other
(a chain or a tree, never a cycle) with random policies; one or two brokers whose
topics are fed by plain publishes and by outboxes and read by consumer groups with
random delivery semantics; a load; a mix of faults (crashes, slowdowns, errors,
partitions, lost messages, broker outages that fail or buffer, back to back or not);
and when to stop. ``build(plan)`` makes the ``World``; ``violations(result, plan)``
lists every law the run broke (an empty list: none). The same seed gives the same model,
so a seed that breaks a law reproduces it exactly.

The laws (``DESIGN.md``, "Nothing lost"):

1. every request ends exactly once, with one outcome (in flight only if the run was
   stopped early), and is the root of its own trace; every span ends in a drained run;
2. every message published is, for each consumer group of its topic, acked or
   dead-lettered exactly once (pending only if the run was stopped early);
3. a message acked at least once had its effect (at-most-once may lose it); an effect
   never happens twice for an idempotent or an at-most-once group; every effect
   belongs to a message delivered to that group;
4. the outbox loses nothing: each outbox event is published once, never before its
   write, and in a drained run every one is;
5. a plain publish is lost only where the design allows it: refused by a broker that is
   down ("fail"), or held in the publisher's memory ("buffer") and lost when that
   publisher crashed, as a log line counts; or still held when the run stopped;
6. every fault that began before the end is listed in ``result.faults``.
"""

import simlab as sl

OUTCOMES = set(sl.schema.OUTCOMES)


# -- drawing a model


def plan(rng):
    """A random model, as plain data (printable, so a failure shows what was drawn)."""
    names = [f"s{i}" for i in range(rng.randint(1, 4))]
    network = rng.random() < 0.5  # partitions and lost messages need every call to time out
    services = {name: {"workers": rng.choice([None, 1, 2, 4]),
                       "queue": rng.choice([None, None, 0, 3]),
                       "work": rng.choice([0.0, 0.005, 0.02]),
                       "error_rate": rng.choice([0.0, 0.0, 0.1])} for name in names}
    calls = {name: [callee for callee in names[i + 1:] if rng.random() < 0.6]
             for i, name in enumerate(names)}
    policies = {(caller, callee): _policy(rng, network) for caller in names
                for callee in calls[caller]}
    brokers, topics = {}, []
    for b in range(rng.randint(1, 2)):
        broker = f"b{b}"
        brokers[broker] = {"max_attempts": rng.randint(1, 4),
                           "redelivery_delay": rng.choice([0.0, 0.05, 0.3]),
                           "delivery": rng.choice(["at-least-once", "at-least-once",
                                                   "at-most-once"])}
        for t in range(rng.randint(1, 2)):
            topics.append({"broker": broker, "name": f"t{b}{t}",
                           "partitions": rng.choice([None, 1, 3]),
                           "way": rng.choice(["publish", "outbox"]),
                           "by": rng.choice(names)})
    groups = [{"topic": i, "name": f"g{i}{k}", "service": f"c{i}{k}",
               "workers": rng.choice([1, 2]), "fails": rng.choice([0.0, 0.0, 0.3, 1.0]),
               "idempotent": rng.random() < 0.5} for i in range(len(topics))
              for k in range(rng.randint(1, 2))]
    load = {"rate": rng.choice([10, 30, 60]), "duration": rng.choice([1.0, 2.0, 4.0]),
            "burst": rng.choice([0, 0, 50]), "timeout": rng.choice([None, None, 0.2])}
    targets = names + [group["service"] for group in groups]
    faults = _faults(rng, names, targets, list(brokers), network, load["duration"])
    until = None if rng.random() < 0.7 else rng.uniform(0.2, load["duration"] + 1.0)
    return {"services": services, "calls": calls, "policies": policies, "brokers": brokers,
            "topics": topics, "groups": groups, "load": load, "faults": faults,
            "until": until, "seed": rng.randrange(2**32)}


def _policy(rng, network):
    return {"timeout": rng.choice([0.05, 0.3]) if network or rng.random() < 0.5 else None,
            "retry": rng.random() < 0.3, "breaker": rng.random() < 0.2,
            "bulkhead": rng.random() < 0.2, "fallback": rng.random() < 0.2}


def _faults(rng, names, targets, brokers, network, duration):
    """Up to six faults, and now and then a crash of a service during a broker outage.
    Faults of one kind on one target follow one another, often back to back (a gap of 0)."""
    faults, free_from = [], {}
    kinds = ["crash", "slowdown", "errors", "broker_outage"] + \
        (["partition", "message_loss"] if network and len(names) > 1 else [])
    for _ in range(rng.randint(0, 6)):
        kind = rng.choice(kinds)
        if kind in ("partition", "message_loss"):
            one, other = rng.sample(names, 2)
            target = ((one,), (other,)) if kind == "partition" else (one, other)
        elif kind == "broker_outage":
            target = rng.choice(brokers)
        else:  # services that publish more often than consumers
            target = rng.choice(names if rng.random() < 0.6 else targets)
        at = free_from.get((kind, target), 0.0) + rng.choice([0.0, 0.0, 0.2, 1.0])
        length = rng.choice([0.05, 0.3, 1.0, 2.0])
        free_from[(kind, target)] = at + length
        extra = {"slowdown": {"factor": rng.choice([0.5, 5.0])},
                 "errors": {"probability": rng.choice([0.5, 1.0])},
                 "message_loss": {"probability": rng.choice([0.3, 1.0])},
                 "broker_outage": {"publishers": rng.choice(["fail", "buffer"])}}
        faults.append((kind, target, at, length, extra.get(kind, {})))
    if rng.random() < 0.3:  # a publisher crashes while a broker is out: what is held?
        broker, service = rng.choice(brokers), rng.choice(names)
        at = max(free_from.get(("broker_outage", broker), 0.0),
                 free_from.get(("crash", service), 0.0) - 0.3) + rng.uniform(0.0, duration)
        faults.append(("broker_outage", broker, at, 1.0, {"publishers": "buffer"}))
        faults.append(("crash", service, at + 0.3, 0.2, {}))
    return faults


# -- building it


def build(plan):
    world = sl.World(seed=plan["seed"], max_seconds=30)
    for name, settings in plan["services"].items():
        world.service(name, **settings).endpoint("go")(_handler(plan, name))
    for name, settings in plan["brokers"].items():
        world.broker(name, **settings)
    for topic in plan["topics"]:
        world.brokers[topic["broker"]].topic(topic["name"], partitions=topic["partitions"])
    for group in plan["groups"]:
        topic = plan["topics"][group["topic"]]
        consumer = world.service(group["service"], workers=group["workers"], work=0.01)
        consumer.consumer(topic["broker"], topic["name"], group=group["name"],
                          idempotent=group["idempotent"])(_consumer(group["fails"]))
    load = plan["load"]
    world.load(sl.Poisson(rate=load["rate"]), target=("s0", "go"),
               duration=load["duration"], timeout=load["timeout"])
    if load["burst"]:
        world.load(sl.Burst(size=load["burst"], over=0.5), target=("s0", "go"),
                   start=load["duration"] / 2, timeout=load["timeout"])
    for kind, target, at, duration, extra in plan["faults"]:
        add = getattr(world.faults, kind)
        targets = target if kind in ("partition", "message_loss") else (target,)
        add(*targets, at=at, duration=duration, **extra)
    return world


def _handler(plan, name):
    """Work, call the callees, then publish or outbox this service's topics."""
    calls = [(callee, _call_options(plan["policies"][(name, callee)]))
             for callee in plan["calls"][name]]
    topics = [(t["broker"], t["name"], t["way"]) for t in plan["topics"] if t["by"] == name]

    def go(ctx, payload):
        yield ctx.work()
        for callee, options in calls:
            yield ctx.call(callee, "go", payload, **options)
        for broker, topic, way in topics:
            # One event per handler run (a retried call runs the handler again): its key
            # names the run. The write comes with the outbox event; before a plain
            # publish, it records that the handler meant to publish.
            key = (payload.id, ctx.span_id)
            ctx.db.write((topic, *key), way)
            if way == "outbox":
                ctx.outbox(broker, topic, payload, key=key)
            else:
                ctx.publish(broker, topic, payload, key=key)
    return go


def _call_options(policy):
    options = {"timeout": policy["timeout"]}
    if policy["retry"]:
        options["retry"] = sl.Retry(attempts=3, backoff=0.01)
    if policy["breaker"]:
        options["breaker"] = sl.CircuitBreaker(window=5, minimum_calls=3, open_for=0.2)
    if policy["bulkhead"]:
        options["bulkhead"] = sl.Bulkhead(max_concurrent=2, max_waiting=2)
    if policy["fallback"]:
        options["fallback"] = "fallback"
    return options


def _consumer(fails):
    """The effect (a write), then more work: a crash in between repeats the effect."""
    def consume(ctx, payload):
        yield ctx.work()
        if ctx.random() < fails:
            raise sl.ServiceError("cannot handle it")
        ctx.db.write(payload.id, "done")
        yield ctx.work()
    return consume


# -- the laws


def violations(result, plan):
    """Every conservation law the run broke, as sentences (an empty list: none)."""
    drained = plan["until"] is None
    found = []
    for law in (_requests, _messages, _effects, _outbox, _publishes, _faults_listed):
        found += [f"{law.__name__.strip('_')}: {problem}"
                  for problem in law(result, plan, drained)]
    return found


def _requests(result, plan, drained):
    requests, spans = result.requests, result.spans
    if requests.request_id.tolist() != list(range(1, len(requests) + 1)):
        yield "request ids are not 1..N"
    if not set(requests.outcome) <= OUTCOMES:
        yield f"unknown outcomes {set(requests.outcome) - OUTCOMES}"
    if not ((requests.outcome == "in_flight") == requests.end.isna()).all():
        yield "an outcome disagrees with its end"
    if drained and (requests.outcome == "in_flight").any():
        yield f"{(requests.outcome == 'in_flight').sum()} requests in flight after draining"
    roots = spans[spans.parent_id == ""]
    if sorted(roots.trace_id) != sorted(requests.trace_id):
        yield "requests and root spans differ"
    if not set(spans.trace_id) <= set(requests.trace_id):
        yield "a span belongs to no request"
    if drained and spans.end.isna().any():
        yield f"{spans.end.isna().sum()} spans still open after draining"


def _messages(result, plan, drained):
    ledger = result.message_ledger()
    if ledger.duplicated(["broker", "topic", "group", "message_id"]).any():
        yield "a message has two ledger rows in one group"
    if drained and (ledger.state == "pending").any():
        yield f"{(ledger.state == 'pending').sum()} deliveries pending after draining"
    messages = result.messages
    final = messages[messages.event.isin(["ack", "dead_letter"])]
    if final.duplicated(["broker", "topic", "group", "message_id"]).any():
        yield "a message was settled twice in one group"
    published = messages[messages.event == "publish"]
    expected = sum(len(result.subscriptions[(b, t)]) for b, t in
                   zip(published.broker, published.topic))
    if len(ledger) != expected:
        yield f"{len(ledger)} ledger rows for {expected} deliveries due"
    max_attempts = {name: settings["max_attempts"] for name, settings in plan["brokers"].items()}
    dead = ledger[ledger.state == "dead_lettered"]
    if (dead.attempts != dead.broker.map(max_attempts)).any():
        yield "a message was dead-lettered before its last attempt"


def _effects(result, plan, drained):
    report = result.delivery_report().set_index(["topic", "group"])
    modes = {(plan['topics'][g['topic']]['name'], g['name']):
             (plan["brokers"][plan["topics"][g["topic"]]["broker"]]["delivery"], g["idempotent"])
             for g in plan["groups"]}
    for label, (delivery, idempotent) in modes.items():
        if label not in report.index:
            continue
        row = report.loc[label]
        if delivery == "at-least-once" and row.lost:
            yield f"{label}: {row.lost} messages acked without their effect (at-least-once)"
        if (idempotent or delivery == "at-most-once") and row.duplicates:
            yield f"{label}: {row.duplicates} effects applied twice ({delivery}, " \
                  f"idempotent={idempotent})"
    delivered = result.messages[result.messages.event == "deliver"]
    delivered = set(zip(delivered.topic, delivered.group, delivered.message_id))
    effects = result.writes[result.writes.message_id > 0]
    if not set(zip(effects.topic, effects.group, effects.message_id)) <= delivered:
        yield "an effect of a message never delivered to its group"


def _events(result, topic):
    """The writes that go with ``topic``'s events, and its publishes, both by event key."""
    writes = result.writes
    meant = writes[writes.key.map(lambda key: isinstance(key, tuple) and key[0] == topic)
                   .astype(bool)]
    meant = meant.set_index(meant.key.map(lambda key: key[1:])).time
    messages = result.messages
    sent = messages[(messages.event == "publish") & (messages.topic == topic)]
    return meant, sent.set_index("key").time


def _outbox(result, plan, drained):
    for topic in (t["name"] for t in plan["topics"] if t["way"] == "outbox"):
        written, sent = _events(result, topic)
        if not sent.index.is_unique:
            yield f"{topic}: an outbox event was published twice"
        if not set(sent.index) <= set(written.index):
            yield f"{topic}: an event published with no write"
        elif (sent < written[sent.index]).any():
            yield f"{topic}: an event published before its write"
        if drained and set(sent.index) != set(written.index):
            yield f"{topic}: {len(set(written.index) - set(sent.index))} outbox events " \
                  "never published"


def _publishes(result, plan, drained):
    """A plain publish meant and not made is accounted for: refused by a broker that was
    down, lost with its publisher's memory in a crash, or (run stopped) still held."""
    logs = result.logs.message
    refused = logs.str.contains(r"is down: publish to .* refused").sum()
    held = logs.str.contains(r"is down: publish to .* held until it is back").sum()
    lost = logs[logs.str.endswith("held publishes lost in the crash")]
    lost = lost.str.split().str[0].astype(int).sum()
    missing = 0
    for topic in (t["name"] for t in plan["topics"] if t["way"] == "publish"):
        meant, sent = _events(result, topic)
        if not sent.index.is_unique:
            yield f"{topic}: a publish was made twice"
        missing += len(set(meant.index) - set(sent.index))
    if drained and missing != refused + lost:
        yield f"{missing} publishes not made: {refused} refused, {lost} lost in crashes"
    if not drained and missing > refused + lost + held:
        yield f"{missing} publishes not made: {refused} refused, {lost} lost, {held} held"


def _faults_listed(result, plan, drained):
    end = result.end_time
    began = [f for f in plan["faults"] if drained or f[2] < end]
    if len(result.faults) != len(began):
        yield f"{len(result.faults)} faults listed, {len(began)} began"
