"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patients',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('issuer_of_patient_id', sa.String(length=64), nullable=False),
    sa.Column('patient_name', sa.String(length=400), nullable=False),
    sa.Column('patient_name_key', sa.String(length=400), nullable=False),
    sa.Column('patient_name_ideographic_key', sa.String(length=400), nullable=False),
    sa.Column('patient_name_phonetic_key', sa.String(length=400), nullable=False),
    sa.Column('birth_date', sa.String(length=8), nullable=False),
    sa.Column('sex', sa.String(length=16), nullable=False),
    sa.Column('comments', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('patient_id', 'issuer_of_patient_id', name='uq_patients_identity')
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index('ix_patients_birth_date', ['birth_date'], unique=False)
        batch_op.create_index('ix_patients_patient_id_pattern', ['patient_id'], unique=False, postgresql_ops={'patient_id': 'varchar_pattern_ops'})
        batch_op.create_index('ix_patients_patient_name_ideographic_key', ['patient_name_ideographic_key'], unique=False, postgresql_ops={'patient_name_ideographic_key': 'varchar_pattern_ops'})
        batch_op.create_index('ix_patients_patient_name_key', ['patient_name_key'], unique=False, postgresql_ops={'patient_name_key': 'varchar_pattern_ops'})
        batch_op.create_index('ix_patients_patient_name_phonetic_key', ['patient_name_phonetic_key'], unique=False, postgresql_ops={'patient_name_phonetic_key': 'varchar_pattern_ops'})

    op.create_table('storage_locations',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('path')
    )
    op.create_table('studies',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('patient_pk', sa.Integer(), nullable=False),
    sa.Column('study_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('study_date', sa.String(length=8), nullable=False),
    sa.Column('study_time', sa.String(length=16), nullable=False),
    sa.Column('accession_number', sa.String(length=64), nullable=False),
    sa.Column('study_id', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=400), nullable=False),
    sa.Column('referring_physician_name', sa.String(length=400), nullable=False),
    sa.Column('referring_physician_name_key', sa.String(length=400), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('modalities', sa.String(length=200), nullable=False),
    sa.Column('num_series', sa.Integer(), nullable=False),
    sa.Column('num_instances', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_pk'], ['patients.pk'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('study_instance_uid')
    )
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.create_index('ix_studies_accession_number', ['accession_number'], unique=False)
        batch_op.create_index('ix_studies_case_id', ['case_id'], unique=False)
        batch_op.create_index('ix_studies_patient_pk', ['patient_pk'], unique=False)
        batch_op.create_index('ix_studies_study_date', ['study_date', 'study_time'], unique=False)
        batch_op.create_index('ix_studies_study_id', ['study_id'], unique=False)
        batch_op.create_index('ix_studies_updated_at', ['updated_at'], unique=False)

    op.create_table('series',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('series_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('series_number', sa.Integer(), nullable=True),
    sa.Column('series_date', sa.String(length=8), nullable=False),
    sa.Column('series_time', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=400), nullable=False),
    sa.Column('body_part_examined', sa.String(length=64), nullable=False),
    sa.Column('num_instances', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_pk'], ['studies.pk'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('series_instance_uid')
    )
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.create_index('ix_series_modality', ['modality'], unique=False)
        batch_op.create_index('ix_series_series_date', ['series_date'], unique=False)
        batch_op.create_index('ix_series_study_pk', ['study_pk'], unique=False)

    op.create_table('instances',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('series_pk', sa.Integer(), nullable=False),
    sa.Column('sop_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('sop_class_uid', sa.String(length=64), nullable=False),
    sa.Column('transfer_syntax_uid', sa.String(length=64), nullable=False),
    sa.Column('instance_number', sa.Integer(), nullable=True),
    sa.Column('image_type', sa.String(length=200), nullable=False),
    sa.Column('number_of_frames', sa.Integer(), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('columns', sa.Integer(), nullable=True),
    sa.Column('specific_character_set', sa.String(length=200), nullable=False),
    sa.Column('barcode', sa.String(length=200), nullable=False),
    sa.Column('slide_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('scanner', sa.String(length=64), nullable=False),
    sa.Column('pyramid_level', sa.Integer(), nullable=True),
    sa.Column('tile_width', sa.Integer(), nullable=True),
    sa.Column('tile_height', sa.Integer(), nullable=True),
    sa.Column('total_pixel_matrix_columns', sa.Integer(), nullable=True),
    sa.Column('total_pixel_matrix_rows', sa.Integer(), nullable=True),
    sa.Column('relpath', sa.String(length=300), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['series_pk'], ['series.pk'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('sop_instance_uid')
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_barcode', ['barcode'], unique=False)
        batch_op.create_index('ix_instances_case_id', ['case_id'], unique=False)
        batch_op.create_index('ix_instances_series_pk', ['series_pk', 'instance_number'], unique=False)
        batch_op.create_index('ix_instances_slide_id', ['slide_id'], unique=False)
        batch_op.create_index('ix_instances_sop_class_uid', ['sop_class_uid'], unique=False)

    op.create_table('file_copies',
    sa.Column('instance_pk', sa.Integer(), nullable=False),
    sa.Column('location_pk', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['instance_pk'], ['instances.pk'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['location_pk'], ['storage_locations.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_pk', 'location_pk')
    )
    with op.batch_alter_table('file_copies', schema=None) as batch_op:
        batch_op.create_index('ix_file_copies_location_pk', ['location_pk'], unique=False)

    op.create_table('instance_versions',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('instance_pk', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('relpath', sa.String(length=300), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_pk'], ['instances.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('instance_pk', 'version', name='uq_instance_versions')
    )


def downgrade() -> None:
    op.drop_table('instance_versions')
    with op.batch_alter_table('file_copies', schema=None) as batch_op:
        batch_op.drop_index('ix_file_copies_location_pk')

    op.drop_table('file_copies')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_sop_class_uid')
        batch_op.drop_index('ix_instances_slide_id')
        batch_op.drop_index('ix_instances_series_pk')
        batch_op.drop_index('ix_instances_case_id')
        batch_op.drop_index('ix_instances_barcode')

    op.drop_table('instances')
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.drop_index('ix_series_study_pk')
        batch_op.drop_index('ix_series_series_date')
        batch_op.drop_index('ix_series_modality')

    op.drop_table('series')
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_index('ix_studies_updated_at')
        batch_op.drop_index('ix_studies_study_id')
        batch_op.drop_index('ix_studies_study_date')
        batch_op.drop_index('ix_studies_patient_pk')
        batch_op.drop_index('ix_studies_case_id')
        batch_op.drop_index('ix_studies_accession_number')

    op.drop_table('studies')
    op.drop_table('storage_locations')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index('ix_patients_patient_name_phonetic_key', postgresql_ops={'patient_name_phonetic_key': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_patients_patient_name_key', postgresql_ops={'patient_name_key': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_patients_patient_name_ideographic_key', postgresql_ops={'patient_name_ideographic_key': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_patients_patient_id_pattern', postgresql_ops={'patient_id': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_patients_birth_date')

    op.drop_table('patients')
