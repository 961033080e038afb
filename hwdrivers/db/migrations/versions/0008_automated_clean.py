"""nodes.automated_clean: a node's override of [conductor] automated_clean.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Ironic's node field (API 1.47): null follows the option, false skips
automated cleaning for this node, true cleans it even when the option is
off. Existing nodes get null: they keep following the option, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("automated_clean", sa.Boolean, nullable=True))


def downgrade():
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("automated_clean")
