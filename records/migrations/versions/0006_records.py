"""call records: queue entries, the record spool, call log indexes

Revision ID: 0006_records
Revises: 0005_console
"""

import sqlalchemy as sa
from alembic import op


revision = "0006_records"
down_revision = '0005_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offers", sa.JSON(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("waited", sa.Double(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("hung_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wrap_up_end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("talk_seconds", sa.Double(), nullable=True),
        sa.Column("hold_seconds", sa.Double(), nullable=True),
        sa.Column("wrap_up_seconds", sa.Double(), nullable=True),
        sa.Column("disposition", sa.String(length=64), nullable=True),
        sa.Column("voicemail_sid", sa.String(length=64), nullable=True),
        sa.Column("voicemail_url", sa.String(length=500), nullable=True),
        sa.Column("voicemail_seconds", sa.Integer(), nullable=True),
        sa.Column("survey_score", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["call_records.id"], name=op.f("fk_queue_entries_call_id_call_records"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
        sa.UniqueConstraint("call_id", "position", name=op.f("uq_queue_entries_call_id")),
    )
    with op.batch_alter_table("queue_entries", schema=None) as batch_op:
        batch_op.create_index("ix_queue_entries_left_at_queue", ["left_at", "queue"], unique=False)
        batch_op.create_index("ix_queue_entries_agent_left_at", ["agent_id", "left_at"], unique=False)
    op.create_table(
        "record_spool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("job", sa.String(length=24), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_spool")),
    )
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.create_index("ix_call_records_started_at_id", ["started_at", "id"], unique=False)
        batch_op.create_index("ix_call_records_outcome_started_at_id", ["outcome", "started_at", "id"], unique=False)
        batch_op.create_index("ix_call_records_patient_started_at", ["patient_id", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_index("ix_call_records_patient_started_at")
        batch_op.drop_index("ix_call_records_outcome_started_at_id")
        batch_op.drop_index("ix_call_records_started_at_id")
    op.drop_table("record_spool")
    op.drop_table("queue_entries")
