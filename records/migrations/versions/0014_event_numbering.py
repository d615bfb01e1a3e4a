"""event numbering: call event sequence numbers as 64-bit integers

A call's events are numbered epoch x 1,000,000 + position (records.calls.EPOCH_SPAN), the
epoch being Redis's clock in ms, so that events numbered after Redis lost a call's keys
never collide with stored ones (issue 16): past what a 32-bit column holds.

Revision ID: 0014_event_numbering
Revises: 0013_monthly_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_event_numbering"
down_revision = "0013_monthly_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.alter_column("sequence", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.alter_column("sequence", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
