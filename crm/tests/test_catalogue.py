"""The outgoing event catalogue: every event type has a sample in the emitters' shape, documented with its
version in docs/integrations.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings

from crm.samples import SAMPLE_DATA, sample_envelope
from integrations import events
from integrations.models import EventType

DOC = Path(settings.BASE_DIR) / "docs" / "integrations.md"


def test_every_event_type_has_a_sample():
    assert set(SAMPLE_DATA) == set(EventType.values)


def test_every_event_type_is_in_the_catalogue_with_its_sample_and_version():
    text = DOC.read_text()
    catalogue = text[text.index("## Event catalogue") :]
    for event_type in EventType.values:
        heading = f"### `{event_type}` (v1)"
        assert heading in catalogue, heading
        section = catalogue[catalogue.index(heading) :]
        block = re.search(r"```json\n(.*?)\n```", section, re.S).group(1)
        assert json.loads(block) == sample_envelope(event_type), event_type


@pytest.fixture
def captured(monkeypatch):
    got = {}

    def fake_emit(*, tenant_id, type, payload, contact_id=None):
        got[type] = payload
        return None

    monkeypatch.setattr(events, "event_emit", fake_emit)
    return got


def test_samples_have_the_emitters_keys(captured):
    message = SimpleNamespace(
        pk=1, campaign_id=2, contact_id=3, to="+1", status="sent", sid="SM", tenant_id=1, error_code=30003
    )
    events.message_event_emit(message=message, status="sent")
    events.message_event_emit(message=message, status="delivered")
    events.message_event_emit(message=message, status="undelivered")
    link = SimpleNamespace(code="c", campaign_id=2, message_id=None, tenant_id=1)
    events.click_event_emit(
        click=SimpleNamespace(
            link=link, is_bot=False, created_at=None, device_type="mobile", os="iOS", browser="Safari", country="US"
        )
    )
    events.contact_opt_event_emit(tenant_id=1, phone_number="+1", opted_out=True, source="keyword")
    events.contact_opt_event_emit(tenant_id=1, phone_number="+1", opted_out=False, source="keyword")
    events.reply_event_emit(tenant_id=1, from_number="+1", body="hi")
    campaign = SimpleNamespace(pk=2, tenant_id=1, name="n")
    events.campaign_finished_event_emit(campaign=campaign, stats={})
    events.campaign_paused_by_guard_event_emit(campaign=campaign, kind="cap", reason="r", figures={})
    for event_type, payload in captured.items():
        assert set(SAMPLE_DATA[event_type]) == set(payload), event_type
    assert len(captured) == len(EventType.values) - 1  # journey.webhook: emitted by journeys/engine.py


def test_journey_webhook_sample_has_the_engines_keys():
    source = (Path(settings.BASE_DIR) / "journeys" / "engine.py").read_text()
    emitted = source[source.index("type=WEBHOOK_EVENT") :][:700]
    for key in SAMPLE_DATA[EventType.JOURNEY_WEBHOOK]:
        assert f'"{key}"' in emitted, key
