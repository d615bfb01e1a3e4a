"""agent skills and wrap-ups (seats, issue 4)

Revision ID: 0004_acd
Revises: 0003
Create Date: 2026-11-23 22:33:33.994314
"""

from alembic import op
import sqlalchemy as sa


revision = '0004_acd'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_skills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_agent_skills_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_skills')),
    sa.UniqueConstraint('staff_id', 'skill', name=op.f('uq_agent_skills_staff_id'))
    )
    with op.batch_alter_table('agent_skills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_skills_staff_id'), ['staff_id'], unique=False)

    op.create_table('wrap_ups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('queue', sa.String(length=32), nullable=False),
    sa.Column('disposition', sa.String(length=32), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_wrap_ups_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wrap_ups'))
    )
    with op.batch_alter_table('wrap_ups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wrap_ups_call_sid'), ['call_sid'], unique=False)
        batch_op.create_index(batch_op.f('ix_wrap_ups_staff_id'), ['staff_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wrap_ups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wrap_ups_staff_id'))
        batch_op.drop_index(batch_op.f('ix_wrap_ups_call_sid'))

    op.drop_table('wrap_ups')
    with op.batch_alter_table('agent_skills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_skills_staff_id'))

    op.drop_table('agent_skills')
