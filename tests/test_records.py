"""The record design: every table defined once, written by field name, same dtypes empty
or full; spans and logs with what tracing tools need."""

import ast
from pathlib import Path

import numpy as np
import pytest

import simlab as sl
from simlab import records
from simlab.records import Field, Table
from simlab.telemetry import Rows

SIMLAB = Path(sl.__file__).parent


def busy_world(seed=3):
    """A bit of everything: calls with retries, a breaker and a fallback, a broker with
    a consumer that writes, a saga, a log line with fields, a crash, a pipeline, a deployment."""
    world = sl.World(seed=seed, sample_every=0.5)
    bus = world.broker("bus", topics=["orders"])
    front = world.service("front", workers=2, work=sl.Exp(mean=0.01), version="2.1")
    back = world.service("back", workers=1, work=sl.Exp(mean=0.05), error_rate=0.5)
    sink = world.service("sink", workers=1, work=sl.Exp(mean=0.01))

    @back.endpoint("get")
    def get(ctx, payload):
        yield ctx.work()

    @back.endpoint("undo")
    def undo(ctx, payload):
        yield ctx.work()

    @front.endpoint("go")
    def go(ctx, payload):
        yield ctx.call("back", "get", payload, retry=sl.Retry(attempts=3, backoff=0.01),
                       breaker=sl.CircuitBreaker(failure_rate=0.9), fallback="cached")
        yield ctx.saga(sl.Saga([("back", "get", "undo")]), payload)
        ctx.log("order placed", order=payload, size="large")
        ctx.publish(bus, "orders", payload, key=payload)

    @sink.consumer(bus, "orders")
    def keep(ctx, payload):
        ctx.db.write(payload, ctx.db.read(payload))
        yield ctx.work()

    world.load(sl.Poisson(rate=30), target=("front", "go"), duration=3)
    world.faults.crash("sink", at=1.0, duration=0.3)
    # A delivery pipeline: a few changes, some caught by the build, the rest deployed.
    world.pipeline("back", commits=sl.Poisson(rate=5), defect_rate=0.5, duration=3,
                   stages=[sl.delivery.Stage("build", 0.1, {"errors": 0.5, "slow": 0.5,
                                                            "broken": 0.5}),
                           sl.delivery.Production(0.2)])
    # A broken version of the sink, caught by its canary: a deployment, its traffic
    # weights, a canary check and an incident.
    world.deploy("sink", "1.1", at=1.5, defect=sl.Defect("broken", share=1.0),
                 strategy=sl.Canary(steps=(0.5, 1.0), interval=0.5, failure_limit=1,
                                    min_requests=1))
    return world


def nothing(ctx, payload):
    yield ctx.work()


@pytest.fixture(scope="module")
def result():
    return busy_world().run()


def test_every_table_has_its_columns_and_dtypes_empty_or_full(result):
    world = sl.World(seed=1)
    world.service("idle").endpoint("nothing")(nothing)
    world.load(sl.Poisson(rate=1e-6), target=("idle", "nothing"), duration=1)
    empty = world.run()
    assert empty.requests.empty
    for name, table in records.TABLES.items():
        expected = {f.name: records.PANDAS_DTYPE[f.dtype] for f in table.fields}
        for which, frame in (("empty", getattr(empty, name)), ("full", getattr(result, name))):
            assert list(frame.columns) == list(table), (which, name)
            assert {c: str(t) for c, t in frame.dtypes.items()} == expected, (which, name)
        if name not in ("consistency",):
            assert len(getattr(result, name)) > 0, f"the busy world records no {name}"


def test_schema_is_made_from_the_records():
    for name, table in records.TABLES.items():
        assert sl.schema.TABLES[name] == {f.name: f.doc for f in table.fields}


def test_a_row_is_written_by_field_name_whatever_the_order_of_the_definition():
    fields = [Field("a", "int", "a"), Field("b", "float", "b"), Field("c", "str", "c")]
    for order in (fields, fields[::-1]):
        rows = Rows(Table("t", "row", *order))
        rows.add(a=1, b=2.5, c="x")
        rows.set(0, b=4.0)
        assert (rows.get(0, "a"), rows.get(0, "b"), rows.get(0, "c")) == (1, 4.0, "x")


def test_a_sparse_field_keeps_only_what_is_not_its_default():
    from simlab.results import _frame

    table = Table("t", "row", Field("a", "int", "a"), Field("b", "str", "b", sparse=True),
                  Field("c", "int", "c", sparse=True))
    rows = Rows(table)
    for a, b, c in ((1, "", 0), (2, "x", 0), (3, "", 7)):
        rows.add(a=a, b=b, c=c)
    assert rows.columns["b"] == {1: "x"} and rows.columns["c"] == {2: 7}
    assert [rows.get(row, "c") for row in range(3)] == [0, 0, 7]
    frame = _frame(table, rows)
    assert frame.b.tolist() == ["", "x", ""] and frame.c.tolist() == [0, 0, 7]
    assert str(frame.c.dtype) == "int64"


def test_a_row_with_a_field_missing_or_unknown_is_refused_where_it_is_written():
    rows = Rows(Table("t", "row", Field("a", "int", "a"), Field("b", "float", "b")))
    with pytest.raises(TypeError, match="'b'"):
        rows.add(a=1)
    with pytest.raises(TypeError, match="'z'"):
        rows.add(a=1, b=2.0, z=3)
    assert len(rows) == 0


def test_a_hot_writer_names_every_field_once_and_writes_what_add_writes():
    table = Table("t", "row", Field("a", "int", "a"), Field("b", "float", "b"),
                  Field("c", "str", "c", sparse=True))
    by_name, by_position = Rows(table), Rows(table)
    write = by_position.writer("c", "a", "b")  # any order: the names say which is which
    for a, b, c in ((1, 2.5, ""), (2, 0.5, "x")):
        by_name.add(a=a, b=b, c=c)
        write(c, a, b)
    assert [[rows.get(row, f) for f in "abc"] for rows in (by_name, by_position)
            for row in range(2)] == [[1, 2.5, ""], [2, 0.5, "x"]] * 2
    for order in (("a", "b"), ("a", "b", "c", "c"), ("a", "b", "z")):
        with pytest.raises(ValueError, match="each of its fields once"):
            by_position.writer(*order)


def test_a_writer_with_constants_writes_them_on_every_row_and_names_the_rest():
    table = Table("t", "row", Field("a", "int", "a"), Field("b", "str", "b"),
                  Field("c", "str", "c", sparse=True), Field("d", "int", "d", sparse=True))
    by_name, bound = Rows(table), Rows(table)
    write_x = bound.writer("d", "a", b="x", c="y")   # c is not its default: kept on each row
    write_z = bound.writer("a", "d", b="z", c="")    # c is its default: not kept
    for a, b, c, d, write in ((1, "x", "y", 0, lambda: write_x(0, 1)),
                              (2, "z", "", 5, lambda: write_z(2, 5))):
        by_name.add(a=a, b=b, c=c, d=d)
        assert write() == len(bound) - 1
    assert [[rows.get(row, f) for f in "abcd"] for rows in (by_name, bound)
            for row in range(2)] == [[1, "x", "y", 0], [2, "z", "", 5]] * 2
    assert bound.columns["c"] == {0: "y"}
    for order, constants in ((("a",), {"b": "x"}), (("a", "b", "c", "d"), {"b": "x"})):
        with pytest.raises(ValueError, match="each of its fields once"):
            bound.writer(*order, **constants)


def test_no_record_is_patched_by_position_anywhere_in_simlab():
    """``record[6] = ...``, ``span[1]``: the old positional records. Only names now."""
    culprits = []
    for path in SIMLAB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                    and node.value.id in ("record", "row", "span", "client_span", "parent")
                    and isinstance(node.slice, ast.Constant)
                    and isinstance(node.slice.value, int)):
                culprits.append(f"{path.name}:{node.lineno}")
    assert not culprits


def test_ids_are_hex_of_the_w3c_widths_and_none_is_empty(result):
    spans = result.spans
    assert spans.trace_id.str.fullmatch("[0-9a-f]{32}").all()
    assert spans.span_id.str.fullmatch("[0-9a-f]{16}").all()
    roots = spans.parent_id == ""
    assert roots.sum() == len(result.requests)
    assert spans.parent_id[~roots].isin(set(spans.span_id)).all()
    assert (result.logs.trace_id == "").any()  # the crash's lines belong to no trace
    assert int(spans.span_id.iloc[-1], 16) == len(spans)


def test_an_id_is_one_string_shared_by_every_row_and_table_that_holds_it(result):
    spans, logs = result.spans, result.logs
    first = spans[spans.trace_id == spans.trace_id.iloc[0]]
    assert len(first) > 1 and len({id(text) for text in first.trace_id}) == 1
    child = spans[spans.parent_id != ""].iloc[0]
    parent = spans[spans.span_id == child.parent_id].iloc[0]
    assert child.parent_id is parent.span_id
    line = logs[logs.trace_id != ""].iloc[0]
    assert line.trace_id is spans[spans.trace_id == line.trace_id].trace_id.iloc[0]


def test_spans_carry_kind_version_attempts_and_the_fallback(result):
    spans = result.spans
    assert set(spans.kind) == {"server", "client", "producer", "consumer"}
    assert set(spans.version[spans.service == "front"]) == {"2.1"}
    clients = spans[spans.kind == "client"]
    assert (clients.attempt >= 1).all() and (spans.attempt[spans.kind != "client"] == 0).all()
    gets = clients[clients.operation == "back.get"]
    assert gets.attempt.max() == 3  # some call needed all three attempts
    # The fallback flag is on the last attempt of a call that failed all of them.
    fell_back = gets[gets.fallback]
    assert len(fell_back) > 0 and (fell_back.status != "ok").all()
    warned = result.logs.message.str.startswith("fallback for back.get").sum()
    assert len(fell_back) == warned


def test_messaging_spans_name_broker_topic_group_and_message(result):
    spans, messages = result.spans, result.messages
    producers = spans[spans.kind == "producer"]
    consumers = spans[spans.kind == "consumer"]
    assert set(zip(producers.broker, producers.topic, producers.group)) == {("bus", "orders", "")}
    assert set(zip(consumers.broker, consumers.topic, consumers.group)) == {
        ("bus", "orders", "sink")}
    published = messages[messages.event == "publish"].set_index("message_id").span_id
    assert (producers.set_index("message_id").span_id == published).all()
    # A consumer span's parent is the producer span of the message it handles.
    assert (consumers.parent_id.values == published.loc[consumers.message_id].values).all()


def test_span_events_mark_waits_retries_and_exceptions(result):
    spans = result.spans.set_index("span_id")
    events = result.span_events
    queued = events[events.name == "queued"].set_index("span_id")
    dequeued = events[events.name == "dequeued"].set_index("span_id")
    waited = spans[spans.wait > 0]
    assert len(waited) > 0 and set(queued.index) == set(dequeued.index) == set(waited.index)
    assert np.allclose(queued.time, waited.start.loc[queued.index])
    assert np.allclose(dequeued.time - queued.time.loc[dequeued.index],
                       waited.wait.loc[dequeued.index])
    retries = events[events.name == "retry"]
    assert len(retries) == result.logs.message.str.startswith("retry ").sum() > 0
    failed_servers = spans[(spans.kind == "server") & (spans.status == "error")]
    exceptions = events[events.name == "exception"]
    assert set(failed_servers.index) <= set(exceptions.span_id)
    assert set(events.span_id) <= set(spans.index)


def test_log_fields_are_attributes_not_text_and_severity_follows_the_level(result):
    logs = result.logs
    placed = logs[logs.message == "order placed"]
    assert len(placed) > 0
    assert all(set(a) == {"order", "size"} for a in placed.attributes)
    assert (logs.severity_number == logs.level.map(records.SEVERITY_NUMBER)).all()
    assert set(logs.severity_number) <= {9, 13, 17}


def test_a_log_level_that_does_not_exist_is_refused():
    world = sl.World(seed=1)
    svc = world.service("svc")

    @svc.endpoint("go")
    def go(ctx, payload):
        ctx.log("hm", level="critical")
        yield ctx.work()

    world.load(sl.Poisson(rate=1), target=("svc", "go"), duration=2)
    with pytest.raises(sl.ModelError, match="unknown level 'critical'.*'warning'"):
        world.run()


def test_group_columns_are_separate_and_agree_across_tables(result):
    keys = {("bus", "orders", "sink")}
    q = result.queues[result.queues.kind == "group"]
    assert set(zip(q.broker, q.topic, q.group)) == keys and (q.service == "").all()
    services = result.queues[result.queues.kind == "service"]
    assert (services.group == "").all() and set(services.service) == {"front", "back", "sink"}
    assert set(zip(result.lag.broker, result.lag.topic, result.lag.group)) == keys
    w = result.writes
    assert set(zip(w.broker, w.topic, w.group)) == keys
    report = result.delivery_report()
    assert set(zip(report.broker, report.topic, report.group)) == keys


def test_span_attributes_use_the_semantic_convention_names(result):
    spans = result.spans
    attributes = result.span_attributes()
    assert (attributes.index == spans.index).all()
    for (_, span), found in zip(spans.iterrows(), attributes):
        assert found["service.name"] == span.service
        if span.kind == "client":
            assert f"{found['rpc.service']}.{found['rpc.method']}" == span.operation
            assert found["simlab.attempt"] == span.attempt
        elif span.kind == "server":
            assert (found["rpc.service"], found["rpc.method"]) == (span.service, span.operation)
        else:
            assert found["messaging.destination.name"] == span.topic == "orders"
            assert found["messaging.operation"] == ("publish" if span.kind == "producer"
                                                    else "process")
            assert found.get("messaging.consumer.group.name", "") == span.group
        assert found.get("error.type") == (span.status if span.status in
                                           ("error", "timeout", "rejected") else None)


def test_a_consumer_span_links_to_its_producer_span(result):
    spans = result.spans.set_index("span_id")
    links = result.span_links()
    assert len(links) == (spans.kind == "consumer").sum() > 0
    assert (spans.kind.loc[links.linked_span_id] == "producer").all()
    producers = spans.loc[links.linked_span_id]
    consumers = spans.loc[links.span_id]
    assert (producers.message_id.to_numpy() == consumers.message_id.to_numpy()).all()
