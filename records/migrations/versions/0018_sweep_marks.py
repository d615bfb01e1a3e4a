"""sweep marks: how far the reconstruction sweep has listed the carrier's calls (issue 17)

A call handed over at its final status waits in Redis until a records worker writes it; a
Redis that loses its data then loses the call, and the sweep finds it again in the carrier's
Calls list.  The list is read from where the last sweep got to, kept here rather than in
Redis, which is what was lost.

Revision ID: 0018_sweep_marks
Revises: 0017_screen_pop_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_sweep_marks"
down_revision = "0017_screen_pop_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweep_marks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("through", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sweep_marks")),
    )


def downgrade() -> None:
    op.drop_table("sweep_marks")
