"""Node history: node_history, one row per recorded event of a node.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Ironic's node history (API 1.78): ``GET /v1/nodes/<node>/history`` lists
the errors, provision states and maintenance changes the conductor
recorded for a node, oldest first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "node_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("node_id", sa.Integer, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("conductor", sa.String(255), nullable=True),
        sa.Column("user", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_node_history"),
        sa.UniqueConstraint("uuid", name="uniq_node_history0uuid"),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE",
                                name="fk_node_history_node_id_nodes"),
    )
    op.create_index("ix_node_history_node_id", "node_history", ["node_id"])


def downgrade():
    op.drop_index("ix_node_history_node_id", table_name="node_history")
    op.drop_table("node_history")
