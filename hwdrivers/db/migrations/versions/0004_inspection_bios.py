"""Inspection inventories and BIOS settings: node_inventory, bios_settings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``node_inventory`` keeps what the last inspection of a node reported
(``GET /v1/nodes/<node>/inventory``); ``bios_settings`` one row per BIOS
attribute of a node with its registry entry (``GET /v1/nodes/<node>/bios``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _timestamps():
    return [sa.Column("created_at", sa.DateTime, nullable=True),
            sa.Column("updated_at", sa.DateTime, nullable=True)]


def upgrade():
    op.create_table(
        "node_inventory",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.Integer, nullable=False),
        sa.Column("inventory", sa.JSON, nullable=True),
        sa.Column("plugin_data", sa.JSON, nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_node_inventory"),
        sa.UniqueConstraint("node_id", name="uniq_node_inventory0node_id"),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE",
                                name="fk_node_inventory_node_id_nodes"),
    )
    op.create_table(
        "bios_settings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("attribute_type", sa.String(255), nullable=True),
        sa.Column("allowable_values", sa.JSON, nullable=True),
        sa.Column("lower_bound", sa.Integer, nullable=True),
        sa.Column("upper_bound", sa.Integer, nullable=True),
        sa.Column("min_length", sa.Integer, nullable=True),
        sa.Column("max_length", sa.Integer, nullable=True),
        sa.Column("read_only", sa.Boolean, nullable=True),
        sa.Column("reset_required", sa.Boolean, nullable=True),
        sa.Column("unique", sa.Boolean, nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_bios_settings"),
        sa.UniqueConstraint("node_id", "name", name="uniq_bios_settings0node_id"),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE",
                                name="fk_bios_settings_node_id_nodes"),
    )


def downgrade():
    op.drop_table("bios_settings")
    op.drop_table("node_inventory")
