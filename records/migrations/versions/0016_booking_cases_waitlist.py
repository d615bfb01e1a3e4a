"""booking channel cases waitlist: who booked an appointment for the patient, places held
for waitlist offers, case kinds (consultations, errands) beside complaints, waiting lists
(issue 20)

Revision ID: 0016_booking_cases_waitlist
Revises: 0015_reconstructed_calls
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_booking_cases_waitlist"
down_revision = "0015_reconstructed_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("by_staff_id", sa.Integer(), nullable=True),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_to", sa.String(length=20), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name=op.f("fk_waitlist_entries_appointment_id_appointments")
        ),
        sa.ForeignKeyConstraint(["by_staff_id"], ["staff.id"], name=op.f("fk_waitlist_entries_by_staff_id_staff")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_waitlist_entries_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["clinic_sessions.id"], name=op.f("fk_waitlist_entries_session_id_clinic_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    with op.batch_alter_table("waitlist_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_waitlist_entries_offer_to"), ["offer_to"], unique=False)
        batch_op.create_index(batch_op.f("ix_waitlist_entries_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index("ix_waitlist_entries_session_status", ["session_id", "status"], unique=False)
        batch_op.create_index("ix_waitlist_entries_status_expires", ["status", "offer_expires_at"], unique=False)
        batch_op.create_index(
            "uq_waitlist_entries_waiting",
            ["session_id", "patient_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('waiting', 'offered')"),
            postgresql_where=sa.text("status IN ('waiting', 'offered')"),
        )

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("booked_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_appointments_booked_by_id_staff"), "staff", ["booked_by_id"], ["id"])

    with op.batch_alter_table("clinic_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offered", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint("not_overoffered", "offered >= 0 AND booked + held_back + offered <= capacity")

    with op.batch_alter_table("complaint_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=24), server_default="complaint", nullable=False))
        batch_op.add_column(sa.Column("address", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("errand_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("tracking_number", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_complaint_cases_kind_opened_at", ["kind", "opened_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("complaint_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_cases_kind_opened_at")
        batch_op.drop_column("tracking_number")
        batch_op.drop_column("errand_status")
        batch_op.drop_column("address")
        batch_op.drop_column("kind")

    with op.batch_alter_table("clinic_sessions", schema=None) as batch_op:
        batch_op.drop_constraint("not_overoffered", type_="check")
        batch_op.drop_column("offered")

    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_appointments_booked_by_id_staff"), type_="foreignkey")
        batch_op.drop_column("booked_by_id")

    with op.batch_alter_table("waitlist_entries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_waitlist_entries_waiting",
            sqlite_where=sa.text("status IN ('waiting', 'offered')"),
            postgresql_where=sa.text("status IN ('waiting', 'offered')"),
        )
        batch_op.drop_index("ix_waitlist_entries_status_expires")
        batch_op.drop_index("ix_waitlist_entries_session_status")
        batch_op.drop_index(batch_op.f("ix_waitlist_entries_patient_id"))
        batch_op.drop_index(batch_op.f("ix_waitlist_entries_offer_to"))

    op.drop_table("waitlist_entries")
