"""spool set aside: a spooled record job that fails at each replay counts its attempts

A row that cannot be applied (its payload not what the hotline writes, or a record the
database refuses) stopped every replay at it, so no later spooled part was ever written.
Its failed replays are counted; after records.spool.SET_ASIDE_AFTER it is set aside, kept
in the table for the operator, and the replays go past it.

Revision ID: 0019_spool_set_aside
Revises: 0018_sweep_marks
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_spool_set_aside"
down_revision = "0018_sweep_marks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_spool", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("error", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("record_spool", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("attempts")
