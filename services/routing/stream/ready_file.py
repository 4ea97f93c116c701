"""The routing worker's readiness and liveness as files, for probes that cannot read its log (Kubernetes
exec probes). The ready file exists while the boards are rebuilt for the worker's current assignment,
and not while a rebalance is under way, when the worker routes nothing: ready means able to route, not
started. The heartbeat file is touched on a timer whatever the assignment: not ready is not dead, but a
heartbeat older than a minute means the event loop is stuck."""

from pathlib import Path


class ReadyFile:
    def __init__(self, path: str) -> None:
        self._path = Path(path) if path else None  # empty: no file, nobody probes this way
        # A file a former process left (Kubernetes keeps /tmp across a container's restarts) says nothing
        # about this one, which is ready only once its own boards are rebuilt.
        self.not_ready()

    def ready(self) -> None:
        if self._path is not None:
            self._path.touch()

    def not_ready(self) -> None:
        if self._path is not None:
            self._path.unlink(missing_ok=True)


class Heartbeat:
    def __init__(self, path: str) -> None:
        self._path = Path(path) if path else None
        # Alive from the start: the timer that beats runs only once the first recovery is done, and a
        # former process's heartbeat, left in /tmp, would be old by then.
        self.beat()

    def beat(self) -> None:
        if self._path is not None:
            self._path.touch()
