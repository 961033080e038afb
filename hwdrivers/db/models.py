"""The schema: nodes, ports and conductors, as SQLAlchemy 2 declarative models.

The declarative classes exist so the schema is written once and alembic can
compare it with a migrated database; :mod:`hwdrivers.db.api` works on the
``__table__`` objects with SQLAlchemy Core, because building ORM objects for
every lease and update costs more than the statement itself.

Datetimes are naive UTC. JSON columns use the portable ``sa.JSON`` so the same
models serve SQLite (embedded default) and PostgreSQL (several conductors).
Constraint and index names follow :data:`NAMING_CONVENTION` so migrations can
refer to them by a predictable name on every backend.
"""

import sqlalchemy as sa
from sqlalchemy import orm

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


class Base(orm.DeclarativeBase):
    metadata = metadata


class _Timestamps:
    created_at = sa.Column(sa.DateTime, nullable=True)
    updated_at = sa.Column(sa.DateTime, nullable=True)


class Node(_Timestamps, Base):
    """One machine. ``reservation``/``reservation_expires`` are its lease (lock)."""

    __tablename__ = "nodes"
    __table_args__ = (
        sa.UniqueConstraint("uuid"),
        sa.UniqueConstraint("name"),
        sa.Index("ix_nodes_provision_state", "provision_state"),
        sa.Index("ix_nodes_driver", "driver"),
        sa.Index("ix_nodes_maintenance", "maintenance"),
        sa.Index("ix_nodes_reservation", "reservation"),
        sa.Index("ix_nodes_conductor_group", "conductor_group"),
    )

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    name = sa.Column(sa.String(255), nullable=True)
    driver = sa.Column(sa.String(255), nullable=False)
    driver_info = sa.Column(sa.JSON, default=dict)
    driver_internal_info = sa.Column(sa.JSON, default=dict)
    instance_info = sa.Column(sa.JSON, default=dict)
    properties = sa.Column(sa.JSON, default=dict)
    extra = sa.Column(sa.JSON, default=dict)
    # One column per kind of interface (boot_interface, ..., rescue_interface);
    # declared in a loop below so the list lives in interface_types only.
    power_state = sa.Column(sa.String(15), nullable=True)
    target_power_state = sa.Column(sa.String(15), nullable=True)
    provision_state = sa.Column(sa.String(15), nullable=False, default="enroll",
                                server_default="enroll")
    target_provision_state = sa.Column(sa.String(15), nullable=True)
    boot_device = sa.Column(sa.String(32), nullable=True)
    boot_device_persistent = sa.Column(sa.Boolean, nullable=True)
    last_error = sa.Column(sa.Text, nullable=True)
    maintenance = sa.Column(sa.Boolean, nullable=False, default=False,
                            server_default=sa.false())
    maintenance_reason = sa.Column(sa.Text, nullable=True)
    fault = sa.Column(sa.String(255), nullable=True)
    power_sync_failures = sa.Column(sa.Integer, nullable=False, default=0,
                                    server_default="0")
    console_enabled = sa.Column(sa.Boolean, nullable=False, default=False,
                                server_default=sa.false())
    console_error = sa.Column(sa.Text, nullable=True)
    # The conductor group whose hash ring owns the node ("" = the default).
    conductor_group = sa.Column(sa.String(255), nullable=False, default="",
                                server_default="")
    reservation = sa.Column(sa.String(255), nullable=True)
    reservation_expires = sa.Column(sa.DateTime, nullable=True)


for _column in INTERFACE_COLUMNS:
    # Added to the mapped class (and so to nodes.__table__) after the class
    # body; declarative appends them in ALL's order.
    setattr(Node, _column, sa.Column(_column, sa.String(255), nullable=True))


class Port(_Timestamps, Base):
    """A network port of a node, identified by its MAC address."""

    __tablename__ = "ports"
    __table_args__ = (
        sa.UniqueConstraint("uuid"),
        sa.UniqueConstraint("address"),
        sa.Index("ix_ports_node_id", "node_id"),
    )

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    address = sa.Column(sa.String(18), nullable=False)
    node_id = sa.Column(sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                        nullable=False)
    pxe_enabled = sa.Column(sa.Boolean, nullable=True, default=True,
                            server_default=sa.true())
    extra = sa.Column(sa.JSON, default=dict)


class Conductor(_Timestamps, Base):
    """A conductor process; ``updated_at`` is its heartbeat."""

    __tablename__ = "conductors"
    __table_args__ = (sa.UniqueConstraint("hostname"),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    hostname = sa.Column(sa.String(255), nullable=False)
    online = sa.Column(sa.Boolean, nullable=False, default=True,
                       server_default=sa.true())
    hardware_types = sa.Column(sa.JSON, default=list)
    conductor_group = sa.Column(sa.String(255), nullable=False, default="",
                                server_default="")
    # Where hwdrivers-api reaches it (JSON-RPC); None for hwdrivers-server.
    rpc_url = sa.Column(sa.String(255), nullable=True)


nodes = Node.__table__
ports = Port.__table__
conductors = Conductor.__table__


class NodeInventory(_Timestamps, Base):
    """What the last inspection of a node found, as the inspector reported it.

    ``inventory`` is ironic-python-agent's inventory shape (cpu, memory,
    disks, interfaces, boot, system_vendor); ``plugin_data`` the rest of
    what was reported. One row per node: a new inspection replaces it.
    """

    __tablename__ = "node_inventory"
    __table_args__ = (sa.UniqueConstraint("node_id"),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    node_id = sa.Column(sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                        nullable=False)
    inventory = sa.Column(sa.JSON, default=dict)
    plugin_data = sa.Column(sa.JSON, default=dict)


class BIOSSetting(_Timestamps, Base):
    """One BIOS attribute of a node as last read, with its registry entry."""

    __tablename__ = "bios_settings"
    __table_args__ = (sa.UniqueConstraint("node_id", "name"),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    node_id = sa.Column(sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                        nullable=False)
    name = sa.Column(sa.String(255), nullable=False)
    value = sa.Column(sa.Text, nullable=True)
    attribute_type = sa.Column(sa.String(255), nullable=True)
    allowable_values = sa.Column(sa.JSON, nullable=True)
    lower_bound = sa.Column(sa.Integer, nullable=True)
    upper_bound = sa.Column(sa.Integer, nullable=True)
    min_length = sa.Column(sa.Integer, nullable=True)
    max_length = sa.Column(sa.Integer, nullable=True)
    read_only = sa.Column(sa.Boolean, nullable=True)
    reset_required = sa.Column(sa.Boolean, nullable=True)
    unique = sa.Column(sa.Boolean, nullable=True)


class NodeHistoryEvent(_Timestamps, Base):
    """One event of a node's history (Ironic's node_history, API 1.78).

    What the conductor's tasks recorded: each error (``last_error``), each
    provision state reached, maintenance set or cleared. Bounded per node
    by ``[conductor] node_history_max_entries`` (see hwdrivers.db.history).
    """

    __tablename__ = "node_history"
    __table_args__ = (sa.UniqueConstraint("uuid"),
                      sa.Index("ix_node_history_node_id", "node_id"))

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    uuid = sa.Column(sa.String(36), nullable=False)
    node_id = sa.Column(sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                        nullable=False)
    severity = sa.Column(sa.String(16), nullable=False)
    event_type = sa.Column(sa.String(32), nullable=False)
    event = sa.Column(sa.Text, nullable=False)
    conductor = sa.Column(sa.String(255), nullable=True)
    user = sa.Column(sa.String(255), nullable=True)


node_inventory = NodeInventory.__table__
bios_settings = BIOSSetting.__table__
node_history = NodeHistoryEvent.__table__
