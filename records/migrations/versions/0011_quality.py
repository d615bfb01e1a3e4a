"""quality: reviewers' scores of sampled calls

Revision ID: 0011_quality
Revises: 0010_retention
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_quality"
down_revision = "0010_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("form", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("sampled_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("percent", sa.Double(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("failed_critical", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_comment", sa.Text(), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["staff.id"], name=op.f("fk_quality_reviews_agent_id_staff")),
        sa.ForeignKeyConstraint(["reviewer_id"], ["staff.id"], name=op.f("fk_quality_reviews_reviewer_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_reviews")),
        sa.UniqueConstraint("call_sid", "reviewer_id", name=op.f("uq_quality_reviews_call_sid")),
    )
    with op.batch_alter_table("quality_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_reviews_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index("ix_quality_reviews_reviewer_status", ["reviewer_id", "status"], unique=False)
        batch_op.create_index("ix_quality_reviews_agent_status", ["agent_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_table("quality_reviews")
