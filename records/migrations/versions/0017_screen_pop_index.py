"""screen pop: the indexes the agent's view of a caller's file reads (issue 17)

The visits: a patient's booked appointments by date, from a partial index on the booked
ones only (the (patient_id, date) index made the screen pop read every appointment the
patient ever had, cancelled and moved ones too, to filter on status).  The last calls:
a patient's calls newest first, read from the index's end (LIMIT 5) instead of sorting.
Each call's last wrap-up: by (call_sid, id), read from the index's end; with the index on
call_sid alone PostgreSQL chose to walk the primary key backwards through every wrap-up
for each of the five calls (43 ms at p50 with 33,000 wrap-ups).

Revision ID: 0017_screen_pop_index
Revises: 0016_booking_cases_waitlist
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_screen_pop_index"
down_revision = "0016_booking_cases_waitlist"
branch_labels = None
depends_on = None

BOOKED = "status = 'booked'"


def upgrade() -> None:
    op.create_index(
        "ix_appointments_patient_booked",
        "appointments",
        ["patient_id", "date"],
        sqlite_where=sa.text(BOOKED),
        postgresql_where=sa.text(BOOKED),
    )
    op.create_index("ix_call_records_patient_started", "call_records", ["patient_id", "started_at"])
    op.create_index("ix_wrap_ups_call_sid_id", "wrap_ups", ["call_sid", "id"])


def downgrade() -> None:
    op.drop_index("ix_wrap_ups_call_sid_id", table_name="wrap_ups")
    op.drop_index("ix_call_records_patient_started", table_name="call_records")
    op.drop_index("ix_appointments_patient_booked", table_name="appointments")
