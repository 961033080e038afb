"""The schema: nodes, ports, conductors and what inspection and history record.

Plain SQLAlchemy Core tables: :mod:`hwdrivers.db.api` works on them
directly, because building ORM objects for every lease and update costs
more than the statement itself, and alembic compares this metadata with a
migrated database. (Declaring them through the ORM also cost every
command-line start-up ~60 ms and 6 MiB to import ``sqlalchemy.orm``.)

Datetimes are naive UTC. JSON columns use the portable ``sa.JSON`` so the same
tables serve SQLite (embedded default) and PostgreSQL (several conductors).
Constraint and index names follow :data:`NAMING_CONVENTION` so migrations can
refer to them by a predictable name on every backend.
"""

import sqlalchemy as sa

from hwdrivers.common import interface_types

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uniq_%(table_name)s0%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

#: ``<kind>_interface`` for each kind of interface a node composes.
INTERFACE_COLUMNS = tuple("%s_interface" % kind for kind in interface_types.ALL)


def _id():
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _timestamps():
    return (sa.Column("created_at", sa.DateTime, nullable=True),
            sa.Column("updated_at", sa.DateTime, nullable=True))


def _node_id():
    return sa.Column("node_id", sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                     nullable=False)


#: One machine. ``reservation``/``reservation_expires`` are its lease (lock);
#: ``conductor_group`` names the hash ring that owns it ("" = the default).
nodes = sa.Table(
    "nodes", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("driver", sa.String(255), nullable=False),
    sa.Column("driver_info", sa.JSON, default=dict),
    sa.Column("driver_internal_info", sa.JSON, default=dict),
    sa.Column("instance_info", sa.JSON, default=dict),
    sa.Column("properties", sa.JSON, default=dict),
    sa.Column("extra", sa.JSON, default=dict),
    sa.Column("power_state", sa.String(15), nullable=True),
    sa.Column("target_power_state", sa.String(15), nullable=True),
    sa.Column("provision_state", sa.String(15), nullable=False, default="enroll",
              server_default="enroll"),
    sa.Column("target_provision_state", sa.String(15), nullable=True),
    # When provision_state last changed (Ironic's field): set with it, by
    # hwdrivers.db.api, whatever path writes the state.
    sa.Column("provision_updated_at", sa.DateTime, nullable=True),
    sa.Column("boot_device", sa.String(32), nullable=True),
    sa.Column("boot_device_persistent", sa.Boolean, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("maintenance", sa.Boolean, nullable=False, default=False,
              server_default=sa.false()),
    sa.Column("maintenance_reason", sa.Text, nullable=True),
    sa.Column("fault", sa.String(255), nullable=True),
    # Ironic's per-node override of [conductor] automated_clean: None follows
    # the option, True/False clean or skip automated cleaning whatever it says.
    sa.Column("automated_clean", sa.Boolean, nullable=True),
    sa.Column("power_sync_failures", sa.Integer, nullable=False, default=0,
              server_default="0"),
    sa.Column("console_enabled", sa.Boolean, nullable=False, default=False,
              server_default=sa.false()),
    sa.Column("console_error", sa.Text, nullable=True),
    sa.Column("conductor_group", sa.String(255), nullable=False, default="",
              server_default=""),
    sa.Column("reservation", sa.String(255), nullable=True),
    sa.Column("reservation_expires", sa.DateTime, nullable=True),
    *_timestamps(),
    # One column per kind of interface (boot_interface, ..., rescue_interface):
    # the list lives in interface_types only.
    *(sa.Column(column, sa.String(255), nullable=True) for column in INTERFACE_COLUMNS),
    sa.UniqueConstraint("uuid"),
    sa.UniqueConstraint("name"),
    sa.Index("ix_nodes_provision_state", "provision_state"),
    sa.Index("ix_nodes_driver", "driver"),
    sa.Index("ix_nodes_maintenance", "maintenance"),
    sa.Index("ix_nodes_reservation", "reservation"),
    sa.Index("ix_nodes_conductor_group", "conductor_group"),
)

#: A network port of a node, identified by its MAC address.
ports = sa.Table(
    "ports", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("address", sa.String(18), nullable=False),
    _node_id(),
    sa.Column("pxe_enabled", sa.Boolean, nullable=True, default=True,
              server_default=sa.true()),
    sa.Column("extra", sa.JSON, default=dict),
    *_timestamps(),
    sa.UniqueConstraint("uuid"),
    sa.UniqueConstraint("address"),
    sa.Index("ix_ports_node_id", "node_id"),
)

#: A conductor process; ``updated_at`` is its heartbeat, ``rpc_url`` where
#: hwdrivers-api reaches it (JSON-RPC; None for hwdrivers-server).
conductors = sa.Table(
    "conductors", metadata,
    _id(),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("online", sa.Boolean, nullable=False, default=True,
              server_default=sa.true()),
    sa.Column("hardware_types", sa.JSON, default=list),
    sa.Column("conductor_group", sa.String(255), nullable=False, default="",
              server_default=""),
    sa.Column("rpc_url", sa.String(255), nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("hostname"),
)

#: What the last inspection of a node found, as the inspector reported it:
#: ``inventory`` is ironic-python-agent's inventory shape (cpu, memory,
#: disks, interfaces, boot, system_vendor); ``plugin_data`` the rest of what
#: was reported. One row per node: a new inspection replaces it.
node_inventory = sa.Table(
    "node_inventory", metadata,
    _id(),
    _node_id(),
    sa.Column("inventory", sa.JSON, default=dict),
    sa.Column("plugin_data", sa.JSON, default=dict),
    *_timestamps(),
    sa.UniqueConstraint("node_id"),
)

#: One BIOS attribute of a node as last read, with its registry entry.
bios_settings = sa.Table(
    "bios_settings", metadata,
    _id(),
    _node_id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("attribute_type", sa.String(255), nullable=True),
    sa.Column("allowable_values", sa.JSON, nullable=True),
    # 64-bit: registries bound attributes with 4294967295 (migration 0009).
    sa.Column("lower_bound", sa.BigInteger, nullable=True),
    sa.Column("upper_bound", sa.BigInteger, nullable=True),
    sa.Column("min_length", sa.BigInteger, nullable=True),
    sa.Column("max_length", sa.BigInteger, nullable=True),
    sa.Column("read_only", sa.Boolean, nullable=True),
    sa.Column("reset_required", sa.Boolean, nullable=True),
    sa.Column("unique", sa.Boolean, nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("node_id", "name"),
)

#: One event of a node's history (Ironic's node_history, API 1.78): what the
#: conductor's tasks recorded -- each error (``last_error``), each provision
#: state reached, maintenance set or cleared. Bounded per node by
#: ``[conductor] node_history_max_entries`` (see hwdrivers.db.history).
node_history = sa.Table(
    "node_history", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    _node_id(),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("conductor", sa.String(255), nullable=True),
    sa.Column("user", sa.String(255), nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("uuid"),
    sa.Index("ix_node_history_node_id", "node_id"),
)
