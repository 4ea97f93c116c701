"""The stream worker's settings: the platform's, and a few of its own (environment, 12-factor)."""

from functools import lru_cache

from services.common.settings import PlatformSettings


class RoutingStreamSettings(PlatformSettings):
    # The Faust app id: the worker's consumer group and the names of its own topics and table.
    routing_stream_id: str = "routing-stream"
    # Put before the name of every platform topic the worker reads or writes, so that a second worker
    # (a test, a staging copy) can run on the same cluster without touching the platform's topics.
    routing_stream_topic_prefix: str = ""
    # Faust's working directory; its tables are in memory, so nothing here needs to outlive the
    # process. Empty: `<temp dir>/<app id>-data`, never the current directory.
    routing_stream_data_dir: str = ""
    # A file that exists while the worker's boards are rebuilt for its current assignment (gone during a
    # rebalance): what a Kubernetes exec probe checks. Empty: none (locally, readiness is the log line).
    routing_stream_ready_file: str = ""
    # A file touched every few seconds while the worker's event loop runs, ready or not: what a Kubernetes
    # liveness probe checks (a loop that stops touching it is stuck). Empty: none.
    routing_stream_heartbeat_file: str = ""
    # How often live queue metrics go out: RTM-1 asks for at least once a second.
    routing_metrics_interval_seconds: float = 1.0
    # A board table recovery that reads nothing for this long, with records still to read, is started
    # again by rejoining the group (see services.routing.stream.recovery_watch).
    routing_recovery_stall_seconds: float = 20.0
    # A decision whose agent has not rung by then is sent again (it may have been lost in a crash).
    routing_resend_after_seconds: float = 5.0
    # A waiting contact's position and estimated wait go out about a second after it joins its queue,
    # then this often while it waits (RT-10): an IVR re-announces them at about this pace.
    routing_wait_estimate_interval_seconds: float = 30.0


@lru_cache
def get_stream_settings() -> RoutingStreamSettings:
    return RoutingStreamSettings()
