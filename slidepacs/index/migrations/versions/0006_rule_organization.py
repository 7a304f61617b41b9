"""Image rules: how a sender's slides are tiled when slidepacs converts them (full/sparse)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('image_rules') as batch:
        batch.add_column(sa.Column('organization', sa.String(length=8), nullable=False,
                                   server_default='full'))


def downgrade() -> None:
    with op.batch_alter_table('image_rules') as batch:
        batch.drop_column('organization')
