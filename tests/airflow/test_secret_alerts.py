"""A vendor that echoes the house's key deep in a long error: the Airflow task's exception and log,
and the ops alert (log line and ``PODIUM_ALERTS_FILE``), show no fragment of it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from podium.errors import PodiumError
from tests.core.test_secrets import HOUSE, KEY, KEY_ENV, EchoingYesplan, assert_no_fragment, house_file

pytestmark = pytest.mark.airflow


def test_task_log_and_alerts_file_show_no_fragment_of_an_echoed_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from plugins.podium_provider.notifications.podium import PodiumFailureNotifier
    from plugins.podium_provider.sync import run_house_sync

    alerts = tmp_path / "alerts.jsonl"
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("PODIUM_DB_URL", f"sqlite:///{tmp_path / 'podium.db'}")
    monkeypatch.setenv("PODIUM_ALERTS_FILE", str(alerts))
    ti = SimpleNamespace(dag_id="podium_sync_yesplan", run_id="manual__1", try_number=1, map_index=0,
                         rendered_map_index=HOUSE)
    context: dict[str, Any] = {"ti": ti}
    with EchoingYesplan() as box:
        house_file(tmp_path, box.url)
        with caplog.at_level(logging.DEBUG), pytest.raises(PodiumError) as caught:
            run_house_sync("yesplan", HOUSE, context, houses_dir=tmp_path)
        context["exception"] = caught.value
        with caplog.at_level(logging.DEBUG):
            PodiumFailureNotifier("yesplan").notify(context)
    assert "vendor said: error: the api_key you sent" in str(caught.value)
    assert_no_fragment(str(caught.value), KEY, "the task's exception")
    for record in caplog.records:
        assert_no_fragment(record.getMessage(), KEY, f"the task log ({record.name})")
    alert = json.loads(alerts.read_text(encoding="utf-8"))
    assert alert["house"] == HOUSE and alert["error_class"] == "config" and "vendor said" in alert["message"]
    assert_no_fragment(alerts.read_text(encoding="utf-8"), KEY, "the alerts file")
