"""Rows are buffered as tuples and moved into the columns a chunk at a time
(``simlab.telemetry.Rows``): whatever the mix of writes, changes and reads, and wherever
the chunk boundaries fall, a table holds exactly what was written, as if each value had
gone straight into its column."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simlab import telemetry
from simlab.records import Field, Table
from simlab.results import _frame
from simlab.telemetry import Rows

TABLE = Table(
    "t", "row",
    Field("a", "int", "a"),
    Field("b", "float", "b"),
    Field("c", "str", "c"),
    Field("d", "float", "d", later=True),                   # NaN until set
    Field("e", "str", "e", later=True, initial="open"),
    Field("f", "int", "f", sparse=True),
    Field("g", "bool", "g"),
)
INITIAL = {"d": math.nan, "e": "open", "f": 0}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 3 rows: every few operations cross a boundary."""
    monkeypatch.setattr(telemetry, "CHUNK", 3)


def same(x, y):
    return x == y or (x != x and y != y)  # NaN is NaN


row_values = st.fixed_dictionaries({
    "a": st.integers(-2**62, 2**62), "b": st.floats(allow_nan=False),
    "c": st.sampled_from(["x", "y", ""]), "f": st.sampled_from([0, 0, 7]),
    "g": st.booleans()})
operations = st.lists(st.one_of(
    st.tuples(st.just("add"), row_values),
    st.tuples(st.just("write"), row_values),             # the writer by position
    st.tuples(st.just("set"), st.integers(0, 30), st.sampled_from("bcdef"),
              st.sampled_from([1.5, -2.0, "z", 3])),
    st.tuples(st.just("columns"))), max_size=40)


@given(operations)
def test_a_table_holds_what_was_written_whatever_the_chunks(steps):
    with pytest.MonkeyPatch.context() as patch:  # (a fixture would be shared by examples)
        patch.setattr(telemetry, "CHUNK", 3)
        rows = Rows(TABLE)
        write = rows.writer("g", "c", "a", "f", "b", d=math.nan, e="open")
    expected = []  # the rows as dicts: what the table must hold
    for step in steps:
        if step[0] in ("add", "write"):
            values = step[1]
            row = rows.add(**{**INITIAL, **values}) if step[0] == "add" else \
                write(values["g"], values["c"], values["a"], values["f"], values["b"])
            assert row == len(expected)
            expected.append({**INITIAL, **values})
        elif step[0] == "set" and step[1] < len(expected):
            _, row, name, value = step
            value = {"b": float, "d": float, "f": int}.get(name, str)(
                value if not isinstance(value, str) or name in "ce" else 0)
            rows.set(row, **{name: value})
            expected[row][name] = value
        elif step[0] == "columns":
            rows.columns  # moves the buffer mid-run, as a canary analysis does
        assert len(rows) == len(expected)
        assert all(same(rows.get(row, name), values[name])  # in the buffer or the columns
                   for row, values in enumerate(expected) for name in "abcdefg")
    frame = _frame(TABLE, rows)
    assert len(frame) == len(expected)
    for name in "abcdefg":
        assert all(same(x, y[name]) for x, y in zip(frame[name].tolist(), expected)), name


def test_a_later_field_holds_its_initial_value_until_set_across_chunks(small_chunks):
    rows = Rows(TABLE)
    for i in range(8):
        rows.add(a=i, b=i / 2, c="x", d=math.nan, e="open", f=0, g=False)
    rows.set(1, d=2.5)   # in the columns already
    rows.set(7, e="done")  # still in the buffer
    frame = _frame(TABLE, rows)
    assert frame.a.tolist() == list(range(8)) and frame.b.tolist() == [i / 2 for i in range(8)]
    assert frame.d.isna().tolist() == [i != 1 for i in range(8)] and frame.d[1] == 2.5
    assert frame.e.tolist() == ["open"] * 7 + ["done"]
    assert len(rows.column("d")) == len(rows.column("a")) == 8
    assert str(frame.d.dtype) == "float64" and str(frame.g.dtype) == "bool"


def test_a_value_that_is_not_a_number_is_named_when_the_buffer_moves(small_chunks):
    rows = Rows(TABLE)
    rows.add(a=1, b="not a number", c="x", d=math.nan, e="open", f=0, g=False)
    with pytest.raises(TypeError, match=r"t\.b is not a float"):
        rows.columns


def test_clear_lets_every_row_go_and_the_table_starts_again(small_chunks):
    rows = Rows(TABLE)
    for i in range(5):
        rows.add(a=i, b=0.0, c="x", d=1.0, e="set", f=i, g=True)
    rows.clear()
    assert len(rows) == 0 and rows.add(a=9, b=0.0, c="y", d=math.nan, e="open", f=0,
                                       g=False) == 0
    frame = _frame(TABLE, rows)
    assert frame.a.tolist() == [9] and np.isnan(frame.d[0]) and frame.e.tolist() == ["open"]


def test_a_field_is_later_or_sparse_not_both():
    with pytest.raises(ValueError, match="sparse"):
        Field("x", "int", "x", sparse=True, later=True)
