"""Scale-out: conductor groups and the conductors' JSON-RPC URL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``nodes.conductor_group`` and ``conductors.conductor_group`` are Ironic's
fields: each group has its own hash ring, so a node is only ever driven by a
conductor of its group. ``conductors.rpc_url`` is where an ``hwdrivers-api``
process reaches the conductor (JSON-RPC over HTTP); ``hwdrivers-server``,
which needs no RPC, leaves it empty.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("conductor_group", sa.String(255), nullable=False,
                                   server_default=""))
        batch.create_index("ix_nodes_conductor_group", ["conductor_group"])
    with op.batch_alter_table("conductors") as batch:
        batch.add_column(sa.Column("conductor_group", sa.String(255), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("rpc_url", sa.String(255), nullable=True))


def downgrade():
    with op.batch_alter_table("conductors") as batch:
        batch.drop_column("rpc_url")
        batch.drop_column("conductor_group")
    with op.batch_alter_table("nodes") as batch:
        batch.drop_index("ix_nodes_conductor_group")
        batch.drop_column("conductor_group")
