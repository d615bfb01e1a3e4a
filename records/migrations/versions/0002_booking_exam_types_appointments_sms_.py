"""booking: exam types, appointments, SMS, patient notes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:38:04.588935
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exam_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=150), nullable=False),
    sa.Column('aliases_zh', sa.JSON(), nullable=False),
    sa.Column('aliases_en', sa.JSON(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('location_zh', sa.String(length=200), nullable=False),
    sa.Column('location_en', sa.String(length=200), nullable=False),
    sa.Column('preparation_zh', sa.Text(), nullable=False),
    sa.Column('preparation_en', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_exam_types_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exam_types')),
    sa.UniqueConstraint('code', name=op.f('uq_exam_types_code'))
    )
    op.create_table('appointments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=True),
    sa.Column('exam_type_id', sa.Integer(), nullable=True),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('place', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=True),
    sa.Column('booked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('moved_to_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'], name=op.f('fk_appointments_doctor_id_doctors')),
    sa.ForeignKeyConstraint(['exam_type_id'], ['exam_types.id'], name=op.f('fk_appointments_exam_type_id_exam_types')),
    sa.ForeignKeyConstraint(['moved_to_id'], ['appointments.id'], name=op.f('fk_appointments_moved_to_id_appointments')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_appointments_patient_id_patients')),
    sa.ForeignKeyConstraint(['session_id'], ['clinic_sessions.id'], name=op.f('fk_appointments_session_id_clinic_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('reference', name=op.f('uq_appointments_reference'))
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index('ix_appointments_patient_date', ['patient_id', 'date'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointments_session_id'), ['session_id'], unique=False)
        batch_op.create_index('uq_appointments_active_doctor_day', ['patient_id', 'doctor_id', 'date'], unique=True, sqlite_where=sa.text("status = 'booked' AND doctor_id IS NOT NULL"), postgresql_where=sa.text("status = 'booked' AND doctor_id IS NOT NULL"))
        batch_op.create_index('uq_appointments_active_exam_day', ['patient_id', 'exam_type_id', 'date'], unique=True, sqlite_where=sa.text("status = 'booked' AND exam_type_id IS NOT NULL"), postgresql_where=sa.text("status = 'booked' AND exam_type_id IS NOT NULL"))
        batch_op.create_index('uq_appointments_active_place', ['session_id', 'place'], unique=True, sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))

    op.create_table('patient_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_patient_notes_appointment_id_appointments')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_notes_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_notes'))
    )
    with op.batch_alter_table('patient_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_notes_patient_id'), ['patient_id'], unique=False)

    op.create_table('sms_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('to_number', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_sms_messages_appointment_id_appointments')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_sms_messages_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_messages')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_sms_messages_provider_sid'))
    )
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_messages_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_messages_patient_id'), ['patient_id'], unique=False)

    with op.batch_alter_table('clinic_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exam_type_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('held_back', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('booked', sa.Integer(), nullable=False, server_default='0'))
        batch_op.alter_column('doctor_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_clinic_sessions_exam_type_id'), ['exam_type_id'], unique=False)
        batch_op.create_unique_constraint('uq_clinic_sessions_exam_type_id', ['exam_type_id', 'date', 'start_time'])
        batch_op.create_foreign_key(batch_op.f('fk_clinic_sessions_exam_type_id_exam_types'), 'exam_types', ['exam_type_id'], ['id'])
        batch_op.create_check_constraint('doctor_or_exam', '(doctor_id IS NULL) <> (exam_type_id IS NULL)')
        # The database, not the application, keeps a session from being overbooked.
        batch_op.create_check_constraint('not_overbooked', 'booked >= 0 AND booked + held_back <= capacity')



def downgrade() -> None:
    with op.batch_alter_table('clinic_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_clinic_sessions_not_overbooked'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_clinic_sessions_doctor_or_exam'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_clinic_sessions_exam_type_id_exam_types'), type_='foreignkey')
        batch_op.drop_constraint('uq_clinic_sessions_exam_type_id', type_='unique')
        batch_op.drop_index(batch_op.f('ix_clinic_sessions_exam_type_id'))
        batch_op.alter_column('doctor_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('booked')
        batch_op.drop_column('held_back')
        batch_op.drop_column('exam_type_id')

    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_messages_patient_id'))
        batch_op.drop_index(batch_op.f('ix_sms_messages_appointment_id'))

    op.drop_table('sms_messages')
    with op.batch_alter_table('patient_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_notes_patient_id'))

    op.drop_table('patient_notes')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('uq_appointments_active_place', sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.drop_index('uq_appointments_active_exam_day', sqlite_where=sa.text("status = 'booked' AND exam_type_id IS NOT NULL"), postgresql_where=sa.text("status = 'booked' AND exam_type_id IS NOT NULL"))
        batch_op.drop_index('uq_appointments_active_doctor_day', sqlite_where=sa.text("status = 'booked' AND doctor_id IS NOT NULL"), postgresql_where=sa.text("status = 'booked' AND doctor_id IS NOT NULL"))
        batch_op.drop_index(batch_op.f('ix_appointments_session_id'))
        batch_op.drop_index('ix_appointments_patient_date')

    op.drop_table('appointments')
    op.drop_table('exam_types')
