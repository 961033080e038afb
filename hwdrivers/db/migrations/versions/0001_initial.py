"""Initial schema: nodes, ports, conductors.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must keep creating what it created
# the day it was written, whatever interface_types.ALL becomes later.
INTERFACE_KINDS = ("boot", "deploy", "management", "power", "console", "inspect",
                   "raid", "bios", "vendor", "rescue")


def upgrade():
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("driver", sa.String(255), nullable=False),
        sa.Column("driver_info", sa.JSON, nullable=True),
        sa.Column("driver_internal_info", sa.JSON, nullable=True),
        sa.Column("instance_info", sa.JSON, nullable=True),
        sa.Column("properties", sa.JSON, nullable=True),
        sa.Column("extra", sa.JSON, nullable=True),
        *[sa.Column("%s_interface" % kind, sa.String(255), nullable=True)
          for kind in INTERFACE_KINDS],
        sa.Column("power_state", sa.String(15), nullable=True),
        sa.Column("target_power_state", sa.String(15), nullable=True),
        sa.Column("provision_state", sa.String(15), nullable=False,
                  server_default="enroll"),
        sa.Column("target_provision_state", sa.String(15), nullable=True),
        sa.Column("boot_device", sa.String(32), nullable=True),
        sa.Column("boot_device_persistent", sa.Boolean, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("maintenance", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("maintenance_reason", sa.Text, nullable=True),
        sa.Column("fault", sa.String(255), nullable=True),
        sa.Column("power_sync_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reservation", sa.String(255), nullable=True),
        sa.Column("reservation_expires", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_nodes"),
        sa.UniqueConstraint("uuid", name="uniq_nodes0uuid"),
        sa.UniqueConstraint("name", name="uniq_nodes0name"),
    )
    op.create_index("ix_nodes_provision_state", "nodes", ["provision_state"])
    op.create_index("ix_nodes_driver", "nodes", ["driver"])
    op.create_index("ix_nodes_maintenance", "nodes", ["maintenance"])
    op.create_index("ix_nodes_reservation", "nodes", ["reservation"])

    op.create_table(
        "ports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("address", sa.String(18), nullable=False),
        sa.Column("node_id", sa.Integer, nullable=False),
        sa.Column("pxe_enabled", sa.Boolean, nullable=True, server_default=sa.true()),
        sa.Column("extra", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ports"),
        sa.UniqueConstraint("uuid", name="uniq_ports0uuid"),
        sa.UniqueConstraint("address", name="uniq_ports0address"),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE",
                                name="fk_ports_node_id_nodes"),
    )
    op.create_index("ix_ports_node_id", "ports", ["node_id"])

    op.create_table(
        "conductors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("hardware_types", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_conductors"),
        sa.UniqueConstraint("hostname", name="uniq_conductors0hostname"),
    )


def downgrade():
    op.drop_table("conductors")
    op.drop_index("ix_ports_node_id", table_name="ports")
    op.drop_table("ports")
    op.drop_index("ix_nodes_reservation", table_name="nodes")
    op.drop_index("ix_nodes_maintenance", table_name="nodes")
    op.drop_index("ix_nodes_driver", table_name="nodes")
    op.drop_index("ix_nodes_provision_state", table_name="nodes")
    op.drop_table("nodes")
