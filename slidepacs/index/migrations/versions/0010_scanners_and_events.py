"""Scanner registry, slide metadata and scanner events

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scanner_events',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scanner', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.SmallInteger(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('source_format', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('pk')
    )
    with op.batch_alter_table('scanner_events', schema=None) as batch_op:
        batch_op.create_index('ix_scanner_events_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_scanner_events_scanner', ['scanner', 'received_at'], unique=False)

    op.create_table('scanners',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('ae_title', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('software_version', sa.String(length=64), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('destination_host', sa.String(length=255), nullable=False),
    sa.Column('destination_port', sa.Integer(), nullable=False),
    sa.Column('destination_ae', sa.String(length=16), nullable=False),
    sa.Column('settings_version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_address', sa.String(length=64), nullable=False),
    sa.Column('clock_skew_seconds', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('ae_title'),
    sa.UniqueConstraint('name_key'),
    sa.UniqueConstraint('token_sha256')
    )
    op.create_table('slide_metadata',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('scanner_pk', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.String(length=64), nullable=False),
    sa.Column('barcode', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('study_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('series_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['scanner_pk'], ['scanners.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('scanner_pk', 'image_id', name='uq_slide_metadata_image')
    )
    with op.batch_alter_table('slide_metadata', schema=None) as batch_op:
        batch_op.create_index('ix_slide_metadata_barcode', ['barcode'], unique=False)
        batch_op.create_index('ix_slide_metadata_series', ['series_instance_uid'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('slide_metadata', schema=None) as batch_op:
        batch_op.drop_index('ix_slide_metadata_series')
        batch_op.drop_index('ix_slide_metadata_barcode')

    op.drop_table('slide_metadata')
    op.drop_table('scanners')
    with op.batch_alter_table('scanner_events', schema=None) as batch_op:
        batch_op.drop_index('ix_scanner_events_scanner')
        batch_op.drop_index('ix_scanner_events_received_at')

    op.drop_table('scanner_events')
