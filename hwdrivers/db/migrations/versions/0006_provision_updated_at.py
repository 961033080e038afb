"""nodes.provision_updated_at: when the provision state last changed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Ironic's field: clients show it, and operators sort stuck nodes by it
("deploying since when?"). Nodes that existed before this revision keep it
empty until their provision state next changes: the moment of their last
change was never recorded, and ``updated_at`` (any change at all) would be
a guess presented as a fact.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("provision_updated_at", sa.DateTime, nullable=True))


def downgrade():
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("provision_updated_at")
