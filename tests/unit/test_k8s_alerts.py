"""The alerts name only metrics the processes export, as Prometheus spells them (OpenTelemetry's name with
dots as underscores, then the unit, then _total for a counter or _bucket for a histogram's buckets), and
every process has an alert for falling silent."""

import re
from pathlib import Path

import yaml
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum

from services.common import consumer_lag
from services.common.k8s_alerts import alerts_config_map, rules
from services.common.request_metrics import RequestMetrics
from services.platform import SERVICES

LAG = "messaging.kafka.consumer.lag"


def prometheus_names() -> set[str]:
    """What a Prometheus fed by the collector calls the request metrics, and the lag gauge."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    for kind, duration in (("rpc", "rpc.server.call.duration"), ("http", "http.server.request.duration")):
        RequestMetrics(meter, kind, duration).record({"m": "x"}, 0.01, failed=True)
    names = set()
    data = reader.get_metrics_data()
    assert data is not None
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        base = metric.name.replace(".", "_") + ("_seconds" if metric.unit == "s" else "")
        if isinstance(metric.data, Sum):
            names.add(base + "_total")
        elif isinstance(metric.data, Histogram):
            names.add(base + "_bucket")
    assert LAG in Path(consumer_lag.__file__).read_text()  # the gauge the consumers report
    return names | {LAG.replace(".", "_")}


def test_the_alerts_name_only_metrics_the_processes_export() -> None:
    exported = prometheus_names()
    named = {
        metric
        for rule in rules()
        for metric in re.findall(r"\b((?:rpc|http|messaging)_[a-z_]+)\b", rule["expr"])
        if not metric.startswith(("rpc_method", "http_route", "messaging_consumer_group_name"))
    }
    assert named and named <= exported, named - exported
    assert {"rpc_server_errors_total", "rpc_server_call_duration_seconds_bucket"} <= named


def test_every_process_has_an_alert_for_falling_silent() -> None:
    silent = [rule["expr"] for rule in rules() if rule["alert"].startswith("CcSilent")]
    assert sorted(re.search(r'job="([^"]+)"', expr).group(1) for expr in silent) == sorted(  # type: ignore[union-attr]
        name for name, _, _ in SERVICES
    )


def test_the_rule_file_is_what_prometheus_loads() -> None:
    loaded = yaml.safe_load(alerts_config_map()["data"]["cc.rules.yaml"])
    (group,) = loaded["groups"]
    assert group["rules"] == rules()
    assert all({"alert", "expr", "for", "labels", "annotations"} <= set(rule) for rule in group["rules"])
