"""What nodes report about themselves: inspection inventories and BIOS settings.

Kept apart from :mod:`hwdrivers.db.api` (nodes, ports, leases) because
these rows are written only at the end of an inspection or a BIOS clean
step and read only by ``GET /v1/nodes/<node>/inventory`` and ``/bios``:
whole-set replacements, one short transaction each. Rows go with their
node (``ON DELETE CASCADE``).
"""

import sqlalchemy as sa

from hwdrivers.db import engine as db_engine
from hwdrivers.db import models

node_inventory = models.node_inventory
bios_settings = models.bios_settings

#: Registry fields of a BIOS setting, as Ironic's API names them.
BIOS_DETAIL_FIELDS = ("attribute_type", "allowable_values", "lower_bound", "upper_bound",
                      "min_length", "max_length", "read_only", "reset_required", "unique")


def _now():
    from hwdrivers.db import api as db_api
    return db_api.utcnow()


def save_inventory(node_id: int, inventory: dict, plugin_data: dict | None = None) -> None:
    """Replace the node's stored inventory."""
    now = _now()
    with db_engine.writer() as conn:
        conn.execute(node_inventory.delete().where(node_inventory.c.node_id == node_id))
        conn.execute(node_inventory.insert().values(
            node_id=node_id, inventory=inventory, plugin_data=plugin_data or {},
            created_at=now))


def get_inventory(node_id: int) -> dict | None:
    """``{"inventory", "plugin_data", "created_at"}`` or None if never inspected."""
    with db_engine.reader() as conn:
        row = conn.execute(sa.select(node_inventory).where(
            node_inventory.c.node_id == node_id)).first()
    return dict(row._mapping) if row is not None else None


def replace_bios_settings(node_id: int, settings: list[dict]) -> None:
    """Make the node's BIOS table exactly ``settings`` (each: name, value, registry fields)."""
    now = _now()
    rows = []
    for setting in settings:
        row = {field: setting.get(field) for field in BIOS_DETAIL_FIELDS}
        value = setting.get("value")
        row.update(node_id=node_id, name=setting["name"], created_at=now,
                   value=None if value is None else str(value))
        rows.append(row)
    with db_engine.writer() as conn:
        conn.execute(bios_settings.delete().where(bios_settings.c.node_id == node_id))
        if rows:
            conn.execute(bios_settings.insert(), rows)


def list_bios_settings(node_id: int) -> list[dict]:
    with db_engine.reader() as conn:
        return [dict(row._mapping) for row in conn.execute(
            sa.select(bios_settings).where(bios_settings.c.node_id == node_id)
            .order_by(bios_settings.c.name))]


def get_bios_setting(node_id: int, name: str) -> dict | None:
    with db_engine.reader() as conn:
        row = conn.execute(sa.select(bios_settings).where(
            bios_settings.c.node_id == node_id, bios_settings.c.name == name)).first()
    return dict(row._mapping) if row is not None else None
