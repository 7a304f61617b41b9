"""Frame maps: where each frame of an instance's file lies, for frame reads without parsing

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing instances get their row the first time one of their frames is asked for.
    op.create_table('instance_frames',
    sa.Column('instance_pk', sa.Integer(), nullable=False),
    sa.Column('frame_map', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['instance_pk'], ['instances.pk'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_pk')
    )


def downgrade() -> None:
    op.drop_table('instance_frames')
