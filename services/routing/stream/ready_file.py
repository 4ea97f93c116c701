"""The routing worker's readiness as a file, for probes that cannot read its log (a Kubernetes exec
probe): it exists while the boards are rebuilt for the worker's current assignment, and not while a
rebalance is under way, when the worker routes nothing. Ready means able to route, not started."""

from pathlib import Path


class ReadyFile:
    def __init__(self, path: str) -> None:
        self._path = Path(path) if path else None  # empty: no file, nobody probes this way

    def ready(self) -> None:
        if self._path is not None:
            self._path.touch()

    def not_ready(self) -> None:
        if self._path is not None:
            self._path.unlink(missing_ok=True)
