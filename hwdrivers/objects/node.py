"""A node: one machine, its driver, its driver_info and its recorded state."""

from hwdrivers.common import interface_types
from hwdrivers.db import api as db_api

JSON_FIELDS = ("driver_info", "driver_internal_info", "instance_info",
               "properties", "extra")

INTERFACE_FIELDS = tuple("%s_interface" % kind for kind in interface_types.ALL)

#: Fields an operator may set directly (the rest belong to the conductor).
WRITABLE_FIELDS = ("name", "driver", "driver_info", "instance_info", "properties",
                   "extra") + INTERFACE_FIELDS

_MISSING = object()


class Node:
    """A node row with change tracking; ``save()`` writes only what changed."""

    def __init__(self, record):
        object.__setattr__(self, "_values", dict(record))
        object.__setattr__(self, "_changed", set())

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        try:
            return values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        if name not in self._values:
            raise AttributeError("node has no field %r" % name)
        if name in ("id", "uuid", "created_at", "updated_at",
                    "reservation", "reservation_expires"):
            raise AttributeError("node field %r is managed by the database" % name)
        self._values[name] = value
        self._changed.add(name)

    def __repr__(self):
        return "<node %s%s>" % (self.uuid, " (%s)" % self.name if self.name else "")

    @property
    def ident(self):
        """What messages call the node: its name when it has one."""
        return self.name or self.uuid

    @property
    def changed(self):
        return frozenset(self._changed)

    def as_dict(self):
        return dict(self._values)

    # -- persistence -----------------------------------------------------------

    @classmethod
    def get(cls, ident):
        return cls(db_api.get_node(ident))

    @classmethod
    def create(cls, values):
        return cls(db_api.create_node(values))

    @classmethod
    def list(cls, **kwargs):
        return [cls(row) for row in db_api.list_nodes(**kwargs)]

    def save(self, expected_reservation=_MISSING, release_lease=False):
        """Write changed fields; with ``expected_reservation``, only if the lock is ours.

        ``release_lease`` also drops that lock in the same statement: a task's
        last write and its release cost one transaction instead of two.
        """
        if release_lease and expected_reservation in (_MISSING, None):
            raise ValueError("release_lease needs the expected_reservation to drop")
        if not self._changed and not release_lease:
            return
        values = {name: self._values[name] for name in self._changed}
        if release_lease:
            values.update(reservation=None, reservation_expires=None)
        for name in JSON_FIELDS:
            if name in values and values[name] is None:
                values[name] = {}
        kwargs = {}
        if expected_reservation is not _MISSING:
            kwargs["expected_reservation"] = expected_reservation
        record = db_api.update_node(self.id, values, **kwargs)
        self._values.update(record)
        self._changed.clear()

    def refresh(self):
        self._values.update(db_api.get_node(self.id))
        self._changed.clear()

    def destroy(self):
        db_api.destroy_node(self.id)
