"""Forwarding: rules added by CLI and the persistent forwarding queue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('forward_rules',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('destination', sa.String(length=64), nullable=False),
    sa.Column('criteria', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('name')
    )
    op.create_table('forward_jobs',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('instance_pk', sa.Integer(), nullable=False),
    sa.Column('destination', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_pk'], ['instances.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('instance_pk', 'destination', name='uq_forward_jobs_instance_destination')
    )
    op.create_index('ix_forward_jobs_destination', 'forward_jobs', ['destination', 'state'],
                    unique=False)
    op.create_index('ix_forward_jobs_due', 'forward_jobs', ['state', 'next_attempt_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_forward_jobs_due', table_name='forward_jobs')
    op.drop_index('ix_forward_jobs_destination', table_name='forward_jobs')
    op.drop_table('forward_jobs')
    op.drop_table('forward_rules')
