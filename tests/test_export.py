"""Exports: every file is what its tool reads, and says what the tables say.

OTLP files are parsed into the official protobuf messages (opentelemetry-proto); Jaeger,
Chrome and JSON-lines files are checked field by field against their formats.
"""

import base64
import json
from datetime import datetime, timezone

import numpy as np
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import simlab as sl
from simlab.export.chrome import _lanes
from simlab.semconv import FAILED

EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z, the default epoch


@pytest.fixture(scope="module")
def broker_run():
    """The event-driven shop: broker hops (producer and consumer spans, links), stopped
    while payments is down, so some spans are still in flight; a fault's log lines."""
    world = sl.scenarios.shop(style="async", duration=3, outage=("payments", 1.5, 5))
    return world.run(seed=2, until=3)


@pytest.fixture(scope="module")
def error_run():
    """The call chain with failures: an outage, injected errors, exception events."""
    return sl.scenarios.shop(style="sync", duration=3, outage=("payments", 1, 1),
                             error_rates={"inventory": 0.1}).run(seed=1)


@pytest.fixture(scope="module")
def retry_run():
    """Retries: several client spans per call, retry events."""
    return sl.scenarios.failures.flaky_world(0.3, 3, duration=2).run(seed=1)


@pytest.fixture(params=["broker_run", "error_run", "retry_run"])
def result(request):
    return request.getfixturevalue(request.param)


# -- OTLP


def base64_ids(node):
    """A copy of an OTLP/JSON document with its hex ids as base64, which is how protobuf's
    JSON parser reads bytes fields (a 32-digit hex id would parse, wrongly, as 24 bytes)."""
    if isinstance(node, list):
        return [base64_ids(item) for item in node]
    if isinstance(node, dict):
        return {key: base64.b64encode(bytes.fromhex(value)).decode()
                if key in ("traceId", "spanId", "parentSpanId") else base64_ids(value)
                for key, value in node.items()}
    return node


def parse(document, message):
    return json_format.Parse(json.dumps(base64_ids(document)), message)


def all_values(node, key):
    """Every value of ``key`` anywhere in a JSON document."""
    if isinstance(node, list):
        return [found for item in node for found in all_values(item, key)]
    if isinstance(node, dict):
        return [*([node[key]] if key in node else []),
                *(found for value in node.values() for found in all_values(value, key))]
    return []


def resource_attributes(resource):
    return {a.key: a.value.string_value for a in resource.attributes}


def test_otlp_traces_parse_into_the_official_messages(result):
    document = sl.export.otlp_traces(result)
    request = parse(document, ExportTraceServiceRequest())
    spans = [(resource, span) for rs in request.resource_spans for scope in rs.scope_spans
             for resource, span in ((rs.resource, s) for s in scope.spans)]
    table = result.spans
    assert len(spans) == len(table)
    ids = {span.span_id for _, span in spans}
    assert len(ids) == len(table)
    for resource, span in spans:
        assert len(span.trace_id) == 16 and len(span.span_id) == 8
        assert span.parent_span_id == b"" or span.parent_span_id in ids
        assert span.end_time_unix_nano >= span.start_time_unix_nano >= EPOCH_NS
        assert 1 <= span.kind <= 5
    for rs in request.resource_spans:
        names = resource_attributes(rs.resource)
        assert names["service.name"] and names["service.version"]
    # One resource per (service, version), each holding exactly that service's spans.
    assert len(request.resource_spans) == len(table.groupby(["service", "version"]))
    for rs in request.resource_spans:
        names = resource_attributes(rs.resource)
        mine = table[(table.service == names["service.name"]) &
                     (table.version == names["service.version"])]
        assert len(rs.scope_spans[0].spans) == len(mine)


def test_otlp_json_uses_integers_for_enums_and_strings_for_64_bit_numbers(result):
    document = sl.export.otlp_traces(result)
    kinds = all_values(document, "kind")
    assert kinds and all(type(kind) is int for kind in kinds)
    codes = [status["code"] for status in all_values(document, "status")]
    assert codes and all(type(code) is int for code in codes)
    for key in ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "intValue"):
        assert all(isinstance(value, str) and value.isdigit()
                   for value in all_values(document, key))
    logs = sl.export.otlp_logs(result)
    numbers = all_values(logs, "severityNumber")
    assert all(type(number) is int for number in numbers)
    for key in ("timeUnixNano", "observedTimeUnixNano"):
        assert all(isinstance(value, str) for value in all_values(logs, key))


def otlp_spans(document):
    return {span["spanId"]: span for rs in document["resourceSpans"]
            for scope in rs["scopeSpans"] for span in scope["spans"]}


def decoded(value):
    """An OTLP/JSON AnyValue as the Python value it holds."""
    ((kind, held),) = value.items()
    return {"intValue": int, "doubleValue": float}.get(kind, lambda same: same)(held)


def test_an_otlp_span_says_what_its_row_says(result):
    spans = otlp_spans(sl.export.otlp_traces(result))
    table = result.spans
    attributes = result.span_attributes()
    events = result.span_events
    for row, expected in zip(table.itertuples(), attributes):
        span = spans[row.span_id]
        assert span["traceId"] == row.trace_id and span.get("parentSpanId", "") == row.parent_id
        assert span["name"] == row.operation
        assert span["kind"] == {"internal": 1, "server": 2, "client": 3, "producer": 4,
                                "consumer": 5}[row.kind]
        assert int(span["startTimeUnixNano"]) == EPOCH_NS + round(row.start * 1e9)
        end = row.end if row.status != "in_flight" else result.end_time
        assert int(span["endTimeUnixNano"]) == EPOCH_NS + round(end * 1e9)
        code = {"ok": 1, "in_flight": 0}.get(row.status, 2)
        assert span["status"]["code"] == code
        assert bool(span["status"].get("message")) == (row.status in FAILED)
        assert [(a["key"], decoded(a["value"])) for a in span["attributes"]] == \
            [(k, v) for k, v in expected.items() if not k.startswith("service.")]
        assert len(span.get("events", [])) == (events.span_id == row.span_id).sum()
        links = span.get("links", [])
        assert links == ([{"traceId": row.trace_id, "spanId": row.parent_id}]
                         if row.kind == "consumer" else [])


def test_failed_spans_carry_the_exception_message_as_their_status(error_run):
    spans = otlp_spans(sl.export.otlp_traces(error_run))
    events = error_run.span_events
    exception = events[events.name == "exception"].iloc[0]
    span = spans[exception.span_id]
    assert span["status"] == {"code": 2, "message": exception.detail}
    (event,) = [e for e in span["events"] if e["name"] == "exception"]
    assert event["attributes"] == [{"key": "exception.message",
                                    "value": {"stringValue": exception.detail}}]
    assert int(event["timeUnixNano"]) == EPOCH_NS + round(exception.time * 1e9)


def test_otlp_logs_parse_into_the_official_messages(result):
    document = sl.export.otlp_logs(result)
    request = parse(document, ExportLogsServiceRequest())
    records = [(rl.resource, record) for rl in request.resource_logs
               for scope in rl.scope_logs for record in scope.log_records]
    logs = result.logs
    assert len(records) == len(logs)
    for (resource, record), row in zip(sorted(records, key=lambda r: r[1].time_unix_nano),
                                       logs.sort_values("time", kind="stable").itertuples()):
        assert record.time_unix_nano == record.observed_time_unix_nano == \
            EPOCH_NS + round(row.time * 1e9)
        assert record.severity_number == row.severity_number
        assert record.severity_text == row.level and record.body.string_value == row.message
        assert record.trace_id.hex() == row.trace_id and record.span_id.hex() == row.span_id
        assert len(record.trace_id) in (0, 16)
        assert resource_attributes(resource)["service.name"] == (row.service or "simlab")
        assert resource_attributes(resource).get("service.version") == (row.version or None)


def test_the_epoch_can_be_set():
    result = sl.scenarios.shop(duration=1).run(seed=1)
    first = result.spans.iloc[0]
    for epoch in (datetime(2030, 5, 1, 12, tzinfo=timezone.utc), "2030-05-01T12:00:00+00:00"):
        span = otlp_spans(sl.export.otlp_traces(result, epoch=epoch))[first.span_id]
        start = int(datetime(2030, 5, 1, 12, tzinfo=timezone.utc).timestamp()) * 10**9
        assert int(span["startTimeUnixNano"]) == start + round(first.start * 1e9)


# -- Jaeger


HEX = set("0123456789abcdef")


def test_jaeger_json_follows_jaegers_model(result):
    document = sl.export.jaeger_traces(result)
    table = result.spans
    assert set(document) == {"data"}
    assert len(document["data"]) == table.trace_id.nunique()
    count = 0
    for trace in document["data"]:
        assert set(trace) == {"traceID", "spans", "processes"}
        assert len(trace["traceID"]) == 32 and set(trace["traceID"]) <= HEX
        ids = {span["spanID"] for span in trace["spans"]}
        for process in trace["processes"].values():
            assert isinstance(process["serviceName"], str) and process["tags"]
        for span in trace["spans"]:
            count += 1
            assert span["traceID"] == trace["traceID"]
            assert len(span["spanID"]) == 16 and set(span["spanID"]) <= HEX
            assert type(span["startTime"]) is int and type(span["duration"]) is int
            assert span["duration"] >= 0 and span["startTime"] >= EPOCH_NS // 1000
            assert span["processID"] in trace["processes"]
            for reference in span["references"]:
                assert reference["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
                assert reference["traceID"] == trace["traceID"] and reference["spanID"] in ids
            tags = {tag["key"]: tag for tag in span["tags"]}
            assert tags["span.kind"]["value"] in ("server", "client", "producer", "consumer",
                                                  "internal")
            for tag in span["tags"]:
                assert tag["type"] in ("string", "bool", "int64", "float64")
                assert isinstance(tag["value"], {"string": str, "bool": bool, "int64": int,
                                                 "float64": float}[tag["type"]])
            for log in span["logs"]:
                assert type(log["timestamp"]) is int and log["fields"]
            assert span["warnings"] is None
    assert count == len(table)


def test_jaeger_marks_errors_and_consumers(result):
    document = sl.export.jaeger_traces(result)
    spans = {span["spanID"]: span for trace in document["data"] for span in trace["spans"]}
    for row in result.spans.itertuples():
        span = spans[row.span_id]
        tags = {tag["key"]: tag["value"] for tag in span["tags"]}
        assert tags["span.kind"] == row.kind
        assert tags.get("error", False) == (row.status in FAILED)
        if row.parent_id:
            (reference,) = span["references"]
            assert reference["spanID"] == row.parent_id
            assert reference["refType"] == ("FOLLOWS_FROM" if row.kind == "consumer"
                                            else "CHILD_OF")
        assert span["startTime"] == (EPOCH_NS + round(row.start * 1e9)) // 1000


# -- Chrome trace events


def check_slices_nest(events):
    """Within each (pid, tid), two slices either nest or do not overlap."""
    slices = sorted(((e["pid"], e["tid"], e["ts"], -e["dur"]) for e in events
                     if e["ph"] == "X"))
    open_ends = {}
    for pid, tid, start, minus_duration in slices:
        stack = open_ends.setdefault((pid, tid), [])
        while stack and stack[-1] <= start:
            stack.pop()
        end = start - minus_duration
        assert not stack or end <= stack[-1], f"slices overlap partly on {pid}/{tid} at {start}"
        stack.append(end)


def test_chrome_trace_slices_nest_and_flows_pair(result):
    document = json.loads(json.dumps(sl.export.chrome_trace(result)))
    assert document["displayTimeUnit"] == "ms"
    events = document["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == len(result.spans)
    assert all(type(e["ts"]) is int and type(e["dur"]) is int and e["dur"] >= 0 for e in slices)
    check_slices_nest(events)
    names = {e["pid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert {names[e["pid"]] for e in slices} == set(result.spans.service)
    starts = [e for e in events if e["ph"] == "s"]
    finishes = {}
    for e in events:
        if e["ph"] == "f":
            assert e["bp"] == "e" and e["id"] not in finishes
            finishes[e["id"]] = e
    assert sorted(e["id"] for e in starts) == sorted(finishes)
    assert all(start["ts"] <= finishes[start["id"]]["ts"] for start in starts)
    spans = result.spans
    caused = spans.kind.isin(["server", "consumer"]) & spans.parent_id.isin(spans.span_id)
    assert len(starts) == caused.sum()


def test_chrome_trace_takes_no_epoch(error_run):
    # Its times count from the start of the run; an epoch would be silently ignored.
    with pytest.raises(TypeError, match="epoch"):
        sl.export.chrome_trace(error_run, epoch="2030-05-01T12:00:00+00:00")
    first = min(e["ts"] for e in sl.export.chrome_trace(error_run)["traceEvents"]
                if e["ph"] == "X")
    assert first == round(error_run.spans.start.min() * 1e6)


def test_chrome_trace_counts_queues(result):
    events = sl.export.chrome_trace(result)["traceEvents"]
    counters = [e for e in events if e["ph"] == "C"]
    assert len(counters) == len(result.queues) > 0
    assert all(set(e["args"]) == {"queued", "busy"} for e in counters)


def test_a_span_inside_its_parent_in_the_same_service_shares_its_lane(error_run):
    events = sl.export.chrome_trace(error_run)["traceEvents"]
    lane = {e["args"]["span_id"]: (e["pid"], e["tid"]) for e in events if e["ph"] == "X"}
    spans = error_run.spans
    clients = spans[spans.kind == "client"]
    shared = [lane[c.span_id] == lane[c.parent_id] for c in clients.itertuples()]
    assert sum(shared) > 0.9 * len(shared)  # the calls of a chain are one after another


# -- JSON lines


def test_logs_jsonl_has_one_record_per_row_with_the_data_models_names(result, tmp_path):
    (path,) = result.export(tmp_path, formats=["logs"])
    assert path.name == "logs.jsonl"
    lines = path.read_text().splitlines()
    logs = result.logs
    assert len(lines) == len(logs) > 0
    for line, row in zip(lines, logs.itertuples()):
        record = json.loads(line)
        assert set(record) - {"TraceId", "SpanId"} == {
            "Timestamp", "ObservedTimestamp", "SeverityText", "SeverityNumber", "Body",
            "Attributes", "Resource"}
        assert record.get("TraceId", "") == row.trace_id
        assert record.get("SpanId", "") == row.span_id
        assert int(record["Timestamp"]) == EPOCH_NS + round(row.time * 1e9)
        assert record["SeverityNumber"] == row.severity_number and record["Body"] == row.message
        assert record["Attributes"] == row.attributes
        assert record["Resource"]["service.name"] == (row.service or "simlab")
        assert record["Resource"].get("service.version") == (row.version or None)


# -- files, subsets, determinism


def test_export_writes_every_format_and_returns_the_paths(broker_run, tmp_path):
    paths = broker_run.export(tmp_path / "new")
    assert [p.name for p in paths] == ["traces.otlp.json", "logs.otlp.json",
                                       "traces.jaeger.json", "trace.chrome.json", "logs.jsonl"]
    assert json.loads(paths[0].read_text()) == sl.export.otlp_traces(broker_run)
    assert json.loads(paths[2].read_text()) == sl.export.jaeger_traces(broker_run)


def trace_ids_in(document):
    return {span["traceId"] for span in otlp_spans(document).values()}


def test_errors_only_keeps_exactly_the_traces_with_a_failed_span(error_run):
    spans = error_run.spans
    failed = set(spans.trace_id[spans.status.isin(FAILED)])
    assert 0 < len(failed) < spans.trace_id.nunique()
    assert trace_ids_in(sl.export.otlp_traces(error_run, errors_only=True)) == failed
    kept = sl.export.otlp_traces(error_run, errors_only=True)
    assert len(otlp_spans(kept)) == spans.trace_id.isin(failed).sum()
    lines = sl.export.log_lines(error_run, errors_only=True)
    logs = error_run.logs
    assert [line["SpanId"] for line in lines] == list(logs.span_id[logs.trace_id.isin(failed)])


def test_a_window_keeps_the_spans_that_overlap_it(broker_run):
    spans = broker_run.spans
    end = spans.end.fillna(broker_run.end_time)
    kept = otlp_spans(sl.export.otlp_traces(broker_run, window=(1.0, 1.5)))
    expected = set(spans.span_id[(spans.start <= 1.5) & (end >= 1.0)])
    assert set(kept) == expected and 0 < len(expected) < len(spans)
    lines = sl.export.log_lines(broker_run, window=(1.0, 1.5))
    assert all(EPOCH_NS + 1.0e9 <= int(line["Timestamp"]) <= EPOCH_NS + 1.5e9 for line in lines)
    counters = [e for e in sl.export.chrome_trace(broker_run, window=(1.0, 1.5))["traceEvents"]
                if e["ph"] == "C"]
    assert counters and all(1.0e6 <= e["ts"] <= 1.5e6 for e in counters)


def test_trace_ids_pick_those_traces(broker_run):
    chosen = list(broker_run.spans.trace_id.unique()[[0, 5]])
    assert trace_ids_in(sl.export.otlp_traces(broker_run, trace_ids=chosen)) == set(chosen)
    assert trace_ids_in(sl.export.otlp_traces(broker_run, trace_ids=chosen[0])) == {chosen[0]}
    as_number = int(chosen[1], 16)
    assert trace_ids_in(sl.export.otlp_traces(broker_run, trace_ids=[as_number])) == \
        {chosen[1]}
    document = sl.export.jaeger_traces(broker_run, trace_ids=chosen)
    assert [trace["traceID"] for trace in document["data"]] == chosen
    lines = sl.export.log_lines(broker_run, trace_ids=chosen)
    assert {line.get("TraceId") for line in lines} <= set(chosen)


@pytest.mark.parametrize("options, message", [
    ({"formats": ["otlp", "zipkin"]}, "unknown format 'zipkin'; choose from ['otlp', "),
    ({"formats": []}, "no format given"),
    ({"window": (5, 2)}, "window (5, 2) ends before it starts"),
    ({"window": 3}, "window must be a pair (t0, t1)"),
    ({"window": (-1, 2)}, "window start t0 must be a non-negative number of seconds"),
    ({"trace_ids": [3.5]}, "trace id 3.5 is not a trace id"),
    ({"trace_ids": 3.5}, "trace_ids must be a list of trace ids, got 3.5"),
    ({"trace_ids": ["xyz"]}, "trace id 'xyz' is not a trace id"),
    ({"trace_ids": ["f" * 32]}, f"trace {'f' * 32} is not in this run"),
    ({"errors_only": "yes"}, "errors_only must be True or False"),
    ({"epoch": datetime(2026, 1, 1)}, "has no time zone"),
    ({"epoch": "soon"}, "epoch 'soon' is not an ISO 8601 date and time"),
    ({"epoch": 0}, "epoch must be a datetime or an ISO 8601 string"),
])
def test_bad_input_is_a_model_error_naming_the_culprit(broker_run, tmp_path, options, message):
    with pytest.raises(sl.ModelError) as error:
        broker_run.export(tmp_path / "out", **options)
    assert message in str(error.value)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_folder_that_is_not_a_path_is_refused(broker_run):
    with pytest.raises(sl.ModelTypeError, match="folder must be a path such as 'traces/', got 3"):
        broker_run.export(3)


def test_the_same_seed_exports_the_same_bytes(tmp_path):
    def files(folder):
        result = sl.scenarios.shop(style="async", duration=2, outage=("inventory", 0.5, 0.5),
                                   error_rates={"payments": 0.05}).run(seed=4)
        return {path.name: path.read_bytes() for path in result.export(tmp_path / folder)}

    assert files("a") == files("b")


def test_lanes_nest_children_in_their_parent_and_give_overlaps_a_lane_of_their_own():
    #          parent  child   sibling overlapping  later child  other span  after all
    starts = [0,       1,      2,                   6,           3,          13]
    ends = [10,        5,      4,                   8,           12,         14]
    parents = [-1,     0,      0,                   0,           -1,         -1]
    lanes = _lanes(starts, ends, parents, np.lexsort((np.arange(6), -np.array(ends), starts)))
    assert lanes == [1, 1, 2, 1, 3, 1]
