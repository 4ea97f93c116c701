"""The routing worker's ready file: there once its boards are rebuilt, gone when a rebalance takes them;
nothing at all when no path is set."""

from pathlib import Path

import pytest

from services.routing.stream.ready_file import ReadyFile


def test_the_file_follows_readiness(tmp_path: Path) -> None:
    path = tmp_path / "ready"
    ready = ReadyFile(str(path))
    ready.not_ready()  # before the first assignment: nothing to remove, no error
    assert not path.exists()
    ready.ready()
    assert path.exists()
    ready.ready()  # a second rebuild (another rebalance) keeps it
    ready.not_ready()
    assert not path.exists()


def test_no_path_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ready = ReadyFile("")
    ready.ready()
    assert list(tmp_path.iterdir()) == []
