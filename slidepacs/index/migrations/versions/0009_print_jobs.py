"""Print jobs of the DICOM print server

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('print_jobs',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('job_uid', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('calling_ae', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('colour', sa.Boolean(), nullable=False),
    sa.Column('folder', sa.Text(), nullable=False),
    sa.Column('films', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('job_uid')
    )
    op.create_index('ix_print_jobs_created_at', 'print_jobs', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_print_jobs_created_at', table_name='print_jobs')
    op.drop_table('print_jobs')
