"""A node: one machine, its driver, its driver_info and its recorded state."""

from hwdrivers.common import interface_types
from hwdrivers.db import api as db_api
from hwdrivers.db import prepared

JSON_FIELDS = ("driver_info", "driver_internal_info", "instance_info",
               "properties", "extra")

INTERFACE_FIELDS = interface_types.NODE_FIELDS

#: Fields an operator may set directly (the rest belong to the conductor).
WRITABLE_FIELDS = ("name", "driver", "driver_info", "instance_info", "properties",
                   "extra") + INTERFACE_FIELDS

_MISSING = object()


#: Fields only the database sets.
_MANAGED = frozenset(("id", "uuid", "created_at", "updated_at", "reservation",
                      "reservation_expires"))


class Node:
    """A node row with change tracking; ``save()`` writes only what changed.

    Field values live in the instance's ``__dict__``, so reading one is a
    plain attribute lookup (a task reads a few dozen). A record from the
    lease statement holds its JSON (and, on SQLite, datetime) columns
    unconverted (:class:`prepared.Deferred`); those wait in ``_deferred``
    and are converted the first time they are read, so a power action pays
    for ``driver_info`` only.
    """

    def __init__(self, record):
        fields = self.__dict__
        fields["_deferred"] = {}
        fields["_changed"] = set()
        self._load(record)

    def _load(self, record):
        fields = self.__dict__
        deferred = fields["_deferred"]
        for name, value in record.items():
            if type(value) is prepared.Deferred:
                deferred[name] = value
                fields.pop(name, None)
            else:
                fields[name] = value
                deferred.pop(name, None)

    def __getattr__(self, name):  # only for what __dict__ does not hold yet
        fields = self.__dict__
        raw = fields.get("_deferred", {}).get(name)
        if raw is None:
            if name in fields:  # converted meanwhile by another thread
                return fields[name]
            raise AttributeError(name)
        value = fields[name] = raw.resolve()
        fields["_deferred"].pop(name, None)
        return value

    def __setattr__(self, name, value):
        fields = self.__dict__
        if name.startswith("_") or (name not in fields and name not in fields["_deferred"]):
            raise AttributeError("node has no field %r" % name)
        if name in _MANAGED:
            raise AttributeError("node field %r is managed by the database" % name)
        fields[name] = value
        fields["_deferred"].pop(name, None)
        fields["_changed"].add(name)

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
        values = dict(self.__dict__)
        del values["_deferred"], values["_changed"]
        for name, raw in list(self._deferred.items()):
            values[name] = raw.resolve()
        return values

    # -- persistence -----------------------------------------------------------

    @classmethod
    def get(cls, ident):
        return cls(db_api.get_node(ident))

    @classmethod
    def create(cls, values):
        return cls(db_api.create_node(values))

    @classmethod
    def list(cls, **kwargs):
        return [cls._of_plain(row) for row in db_api.list_nodes(**kwargs)]

    @classmethod
    def _of_plain(cls, record):
        """A node from a dict with nothing deferred (a listing's rows), in one update."""
        node = object.__new__(cls)
        fields = node.__dict__
        fields.update(record)
        fields["_deferred"] = {}
        fields["_changed"] = set()
        return node

    def save(self, expected_reservation=_MISSING, release_lease=False, refresh=True,
             txn=None):
        """Write changed fields; with ``expected_reservation``, only if the lock is ours.

        ``release_lease`` also drops that lock in the same statement: a task's
        last write and its release cost one transaction instead of two.
        ``refresh=False`` (a lock holder whose view is current: its lease's
        own transaction, or its last write) skips reading the row back;
        ``txn`` writes inside a transaction of :func:`db_api.write_transaction`.
        """
        if release_lease and expected_reservation in (_MISSING, None):
            raise ValueError("release_lease needs the expected_reservation to drop")
        if not self._changed and not release_lease:
            return
        values = {name: self.__dict__[name] for name in self._changed}
        for name in JSON_FIELDS:
            if name in values and values[name] is None:
                values[name] = {}
        if (not refresh or txn is not None) and expected_reservation not in (
                _MISSING, None) and "name" not in values:
            values["updated_at"] = db_api.write_node(
                self.id, values, expected_reservation, release=release_lease, txn=txn)
            if release_lease:
                values.update(reservation=None, reservation_expires=None)
            self._load(values)
            self._changed.clear()
            return
        if release_lease:
            values.update(reservation=None, reservation_expires=None)
        kwargs = {}
        if expected_reservation is not _MISSING:
            kwargs["expected_reservation"] = expected_reservation
        self._load(db_api.update_node(self.id, values, **kwargs))
        self._changed.clear()

    def refresh(self):
        self._load(db_api.get_node(self.id))
        self._changed.clear()

