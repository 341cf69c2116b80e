"""A check of CloudWatch's embedded metric format (EMF) as its specification states it
(docs.aws.amazon.com, "Specification: Embedded metric format"): what CloudWatch Logs needs to turn
a JSON log line into metrics."""

from __future__ import annotations

import json

UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits",
         "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
         "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
         "Terabits/Second", "Count/Second", "None"}


def emf_metrics(line: str) -> dict[str, float]:
    """The metrics of an EMF log line, {name: value}; AssertionError naming what the spec's required
    keys lack: `_aws.Timestamp` (epoch milliseconds), `_aws.CloudWatchMetrics[]` each with a
    `Namespace`, `Dimensions` (arrays of at most 30 keys, each a top-level string) and `Metrics`
    (at most 100, each `Name` a top-level number or array of numbers, `Unit` one of CloudWatch's)."""
    document = json.loads(line)
    assert isinstance(document, dict), "an EMF line is one JSON object"
    meta = document.get("_aws")
    assert isinstance(meta, dict), "no _aws object"
    stamp = meta.get("Timestamp")
    assert isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 1_000_000_000_000, f"_aws.Timestamp {stamp!r}: epoch milliseconds"
    directives = meta.get("CloudWatchMetrics")
    assert isinstance(directives, list) and directives, "_aws.CloudWatchMetrics: a non-empty array"
    found = {}
    for directive in directives:
        namespace = directive.get("Namespace")
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 1024, f"Namespace {namespace!r}"
        dimensions = directive.get("Dimensions")
        assert isinstance(dimensions, list), "Dimensions: an array of dimension sets"
        for dimension_set in dimensions:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30, f"dimension set {dimension_set!r}"
            for key in dimension_set:
                value = document.get(key)
                assert isinstance(value, str) and 1 <= len(value) <= 1024, f"dimension {key!r} has no string value at the top level ({value!r})"
        metrics = directive.get("Metrics")
        assert isinstance(metrics, list) and 1 <= len(metrics) <= 100, "Metrics: 1 to 100 metric definitions"
        for metric in metrics:
            name = metric.get("Name")
            assert isinstance(name, str) and 1 <= len(name) <= 1024, f"metric name {name!r}"
            assert metric.get("Unit", "None") in UNITS, f"{name}: unit {metric.get('Unit')!r}"
            value = document.get(name)
            numbers = value if isinstance(value, list) else [value]
            assert numbers and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers), f"metric {name!r} is {value!r}, not a number"
            found[name] = value
    return found
