"""reconstructed calls: call records completed after their events or status were lost

Revision ID: 0015_reconstructed_calls
Revises: 0014_event_numbering
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_reconstructed_calls"
down_revision = "0014_event_numbering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reconstructed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("reconstructed_why", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("reconstructed_why")
        batch_op.drop_column("reconstructed")
