"""Secrets as files (CC_SECRETS_DIR, a Kubernetes Secret mounted as a volume): a file per setting is read
like its environment variable, the environment wins where both say, and without the directory nothing
but the environment is read."""

from pathlib import Path

import pytest

from services.common.settings import PlatformSettings


def test_a_setting_comes_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC_API_KEYS", raising=False)
    (tmp_path / "CC_API_KEYS").write_text("file-key:acme")
    monkeypatch.setenv("CC_SECRETS_DIR", str(tmp_path))
    assert PlatformSettings().cc_api_keys == "file-key:acme"
    monkeypatch.setenv("CC_API_KEYS", "env-key:acme")
    assert PlatformSettings().cc_api_keys == "env-key:acme"


def test_without_the_directory_files_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC_API_KEYS", raising=False)
    monkeypatch.delenv("CC_SECRETS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "CC_API_KEYS").write_text("file-key:acme")
    assert PlatformSettings().cc_api_keys == PlatformSettings.model_fields["cc_api_keys"].default
