"""An index on instances.received_at (the admin dashboard counts recent arrivals)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_instances_received_at', 'instances', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_instances_received_at', table_name='instances')
