"""occupancy: agents' state history; the call an SMS was sent during

Revision ID: 0009_agent_states
Revises: 0008_care
"""

import sqlalchemy as sa
from alembic import op


revision = "0009_agent_states"
down_revision = "0008_care"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_state_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.String(length=40), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_changes")),
        sa.UniqueConstraint("stream_id", name=op.f("uq_agent_state_changes_stream_id")),
    )
    with op.batch_alter_table("agent_state_changes", schema=None) as batch_op:
        batch_op.create_index("ix_agent_state_changes_staff_id_at", ["staff_id", "at"], unique=False)
        batch_op.create_index("ix_agent_state_changes_at", ["at"], unique=False)
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_sid", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_sms_messages_call_sid"), ["call_sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_messages_call_sid"))
        batch_op.drop_column("call_sid")
    with op.batch_alter_table("agent_state_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_state_changes_at")
        batch_op.drop_index("ix_agent_state_changes_staff_id_at")
    op.drop_table("agent_state_changes")
