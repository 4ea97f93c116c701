"""The platform's alerts: Prometheus rules on the metrics every process exports through the collector
(services/common/request_metrics.py, services/common/consumer_lag.py), as the Prometheus a backend
exporter of the collector feeds sees them (OpenTelemetry's names with dots as underscores, the unit and
_total appended; `job` is the process's service.name). Generated into deploy/k8s/base/observability/
alerts.yaml (`make k8s-manifests`), a ConfigMap a Prometheus loads as a rule file; the README's runbook
says what each means and what to do.
"""

from typing import Any

import yaml

from services.platform import SERVICES

# A consumer group this far behind, for this long, is late for the people waiting on it.
LAG_RECORDS, LAG_FOR = 1000, "5m"
ERROR_RATIO = 0.05
SLOW_P99_SECONDS = 1.0
# What a running process always exports: its consumer groups' lag (every 5 s, whatever the traffic); the
# gateway, which has none without Twilio, counts the kubelet's readiness requests.
SIGN_OF_LIFE = {"gateway": "http_server_requests_total"}


def _rule(name: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def rules() -> list[dict[str, Any]]:
    return [
        _rule(
            "CcRequestsFailing",
            f"sum by (job, rpc_method) (rate(rpc_server_errors_total[5m])) / "
            f"sum by (job, rpc_method) (rate(rpc_server_requests_total[5m])) > {ERROR_RATIO}",
            "5m",
            "page",
            "{{ $labels.job }} fails over 5 % of {{ $labels.rpc_method }} for its own fault",
        ),
        _rule(
            "CcRequestsSlow",
            "histogram_quantile(0.99, sum by (job, rpc_method, le) "
            f"(rate(rpc_server_call_duration_seconds_bucket[5m]))) > {SLOW_P99_SECONDS}",
            "10m",
            "ticket",
            "{{ $labels.job }} answers 1 % of {{ $labels.rpc_method }} after more than a second",
        ),
        _rule(
            "CcGatewayFailing",
            "sum by (http_route) (rate(http_server_errors_total[5m])) / "
            f"sum by (http_route) (rate(http_server_requests_total[5m])) > {ERROR_RATIO}",
            "5m",
            "page",
            "the gateway answers over 5 % of {{ $labels.http_route }} with a 5xx",
        ),
        _rule(
            "CcConsumerBehind",
            f"sum by (job, messaging_consumer_group_name) (messaging_kafka_consumer_lag) > {LAG_RECORDS}",
            LAG_FOR,
            "page",
            "{{ $labels.messaging_consumer_group_name }} ({{ $labels.job }}) is over 1,000 records behind",
        ),
        *(
            _rule(
                f"CcSilent{name.title().replace('-', '')}",
                f'absent({SIGN_OF_LIFE.get(name, "messaging_kafka_consumer_lag")}{{job="{name}"}})',
                "10m",
                "page",
                f"{name} has exported no metrics for 10 minutes: it is down or cannot reach the collector",
            )
            for name, _, _ in SERVICES
        ),
    ]


def alerts_config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cc-alerts", "labels": {"app.kubernetes.io/part-of": "cc"}},
        "data": {
            "cc.rules.yaml": yaml.safe_dump({"groups": [{"name": "cc", "rules": rules()}]}, sort_keys=False)
        },
    }
