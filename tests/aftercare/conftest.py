"""Fixtures for after care: the API's token in the environment, the RQ worker
(tests/test_sms.py), discharges and a month's campaign to call."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from queueing import aftercare as jobs
from records.models import Discharge, FollowUpTask, Patient
from tests.conftest import OPEN
from tests.test_sms import worker as worker  # noqa: F401  (the fixture)

TOKEN = "test-aftercare-token"
MONTH = "2026-10"  # OPEN is in November: the campaign run then is October's
MS_WANG_PHONE = "+8613800138000"


@pytest.fixture
def environ(environ):
    return {**environ, "AFTERCARE_API_TOKENS": f"other-system-token, {TOKEN}"}


def add_discharges(db, rows: list[tuple[str, str, date]]) -> list[int]:
    """(mrn, ward, day) -> discharge ids."""
    ids = []
    for number, (mrn, ward, day) in enumerate(rows):
        patient_id = db.scalar(select(Patient.id).where(Patient.mrn == mrn))
        count = db.scalar(select(func.count()).select_from(Discharge))
        discharge = Discharge(
            source_event_id=f"ADT-{count + number}-{mrn}",
            patient_id=patient_id,
            ward=ward,
            discharged_on=day,
            attending_doctor="张医生",
            received_at=OPEN,
        )
        db.add(discharge)
        db.flush()
        ids.append(discharge.id)
    db.commit()
    return ids


def tasks(db) -> list[FollowUpTask]:
    db.rollback()
    db.expire_all()
    return list(db.scalars(select(FollowUpTask).order_by(FollowUpTask.id)))


@pytest.fixture
def ms_wang_discharged(db):
    """Ms Wang, alone in her ward in October: October's campaign calls her."""
    return add_discharges(db, [("M00000001", "心内科一病区", date(2026, 10, 20))])[0]


def run_campaign(db, month: str = MONTH) -> str:
    db.rollback()  # nothing held while the job and the webhooks write
    return jobs.run_campaigns(month)
