"""The columns of every DataFrame in a ``Result``, with their meaning: fixed, present even
when empty. Made from ``simlab.records``, where each table is defined (with dtypes).

``sl.schema.SPANS["wait"]`` is the meaning of the spans table's ``wait`` column.
"""

from .records import OUTCOMES, TABLES as _TABLES

TABLES = {name: {field.name: field.doc for field in table.fields}
          for name, table in _TABLES.items()}

REQUESTS = TABLES["requests"]
SPANS = TABLES["spans"]
SPAN_EVENTS = TABLES["span_events"]
LOGS = TABLES["logs"]
MESSAGES = TABLES["messages"]
QUEUES = TABLES["queues"]
LAG = TABLES["lag"]
FAULTS = TABLES["faults"]
BREAKERS = TABLES["breakers"]
SAGAS = TABLES["sagas"]
WRITES = TABLES["writes"]
READS = TABLES["reads"]
CONSISTENCY = TABLES["consistency"]
CHANGES = TABLES["changes"]
PIPELINE_RUNS = TABLES["pipeline_runs"]

__all__ = ["TABLES", "OUTCOMES", *(name.upper() for name in _TABLES)]
