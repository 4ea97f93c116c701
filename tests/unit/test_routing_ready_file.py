"""The routing worker's ready file: there once its boards are rebuilt, gone when a rebalance takes them;
nothing at all when no path is set. Its heartbeat file, and the liveness probe's command that reads it."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from services.common.k8s_manifests import HEARTBEAT_FILE, HEARTBEAT_FRESH
from services.routing.stream.ready_file import Heartbeat, ReadyFile


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


def alive(path: Path) -> bool:
    """The deployment's liveness command, on this file instead of the pod's."""
    command = HEARTBEAT_FRESH.replace(HEARTBEAT_FILE, str(path))
    return subprocess.run(["sh", "-c", command], capture_output=True).returncode == 0


def test_the_liveness_probe_wants_a_heartbeat_younger_than_a_minute(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    assert not alive(path)  # never beaten
    Heartbeat(str(path))
    assert alive(path)
    old = time.time() - 61
    os.utime(path, (old, old))
    assert not alive(path)  # a stuck event loop
    Heartbeat(str(path)).beat()
    assert alive(path)


def test_a_new_process_is_not_ready_whatever_a_former_one_left_and_is_alive_from_its_start(
    tmp_path: Path,
) -> None:
    ready, heartbeat = tmp_path / "ready", tmp_path / "heartbeat"
    ready.touch()
    heartbeat.touch()
    old = time.time() - 600
    os.utime(heartbeat, (old, old))
    ReadyFile(str(ready))
    Heartbeat(str(heartbeat))
    assert not ready.exists()
    assert alive(heartbeat)
