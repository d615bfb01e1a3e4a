"""satisfaction: the satisfaction programme's samples and answers

Revision ID: 0012_satisfaction
Revises: 0011_quality
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_satisfaction"
down_revision = "0011_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "satisfaction_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("visit_type", sa.String(length=12), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("share", sa.Double(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_campaigns")),
        sa.UniqueConstraint("month", "visit_type", name=op.f("uq_satisfaction_campaigns_month")),
    )
    op.create_table(
        "satisfaction_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("visit", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("doctor_id", sa.Integer(), nullable=True),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("sms_message_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["satisfaction_campaigns.id"],
            name=op.f("fk_satisfaction_surveys_campaign_id_satisfaction_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["complaint_cases.id"], name=op.f("fk_satisfaction_surveys_case_id_complaint_cases")
        ),
        sa.ForeignKeyConstraint(["doctor_id"], ["doctors.id"], name=op.f("fk_satisfaction_surveys_doctor_id_doctors")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_satisfaction_surveys_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["sms_message_id"], ["sms_messages.id"], name=op.f("fk_satisfaction_surveys_sms_message_id_sms_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_surveys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_satisfaction_surveys_token_hash")),
        sa.UniqueConstraint("visit", name=op.f("uq_satisfaction_surveys_visit")),
    )
    with op.batch_alter_table("satisfaction_surveys", schema=None) as batch_op:
        batch_op.create_index("ix_satisfaction_surveys_campaign_status", ["campaign_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_satisfaction_surveys_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("satisfaction_surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_satisfaction_surveys_patient_id"))
        batch_op.drop_index("ix_satisfaction_surveys_campaign_status")

    op.drop_table("satisfaction_surveys")
    op.drop_table("satisfaction_campaigns")
