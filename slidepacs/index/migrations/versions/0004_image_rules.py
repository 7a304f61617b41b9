"""Image rules per sending AE / scanner, and the quarantine of slides that broke them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('image_rules',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('ae_title', sa.String(length=16), nullable=False),
    sa.Column('scanner', sa.String(length=64), nullable=False),
    sa.Column('barcode_regex', sa.Text(), nullable=False),
    sa.Column('modifier_regex', sa.Text(), nullable=False),
    sa.Column('modifier_format', sa.Text(), nullable=False),
    sa.Column('slide_id_regex', sa.Text(), nullable=False),
    sa.Column('case_id_regex', sa.Text(), nullable=False),
    sa.Column('filename_template', sa.String(length=200), nullable=False),
    sa.Column('require_barcode', sa.Boolean(), nullable=False),
    sa.Column('output_format', sa.String(length=8), nullable=False),
    sa.Column('file_location', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('ae_title')
    )
    op.create_table('quarantine',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('ae_title', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('relpath', sa.String(length=400), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rules_version', sa.Integer(), nullable=False),
    sa.Column('slide_values', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('relpath')
    )
    op.create_index('ix_quarantine_ae_title', 'quarantine', ['ae_title'], unique=False)
    op.create_index('ix_quarantine_received_at', 'quarantine', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_quarantine_received_at', table_name='quarantine')
    op.drop_index('ix_quarantine_ae_title', table_name='quarantine')
    op.drop_table('quarantine')
    op.drop_table('image_rules')
