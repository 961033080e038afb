"""Core statements compiled once per dialect and run on the DB-API cursor.

Every exclusive task runs the same three statements -- take the lease and
read the node, publish what it is about to do, record the outcome and
release -- so their cost per call is the conductor's floor. Through a
SQLAlchemy ``Connection`` each costs a compiled-cache lookup, parameter
and result set-up and five JSON decodes; most of that is the same every
time. :class:`Prepared` keeps the statement written in SQLAlchemy Core
(one schema, both backends) but does that work once per dialect: the SQL
text, the order of the parameters, and the type conversions each bound
value and each returned column needs, taken from the column types
themselves (``bind_processor``/``result_processor``).

Returned rows are dicts whose converted columns are :class:`Deferred`:
the conversion (JSON decoding, SQLite's datetime parsing) runs when a
caller reads the value. A power action reads ``driver_info`` and a few
plain columns, never ``properties`` or ``instance_info``; a caller that
wants plain values calls :func:`resolve_all`.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from hwdrivers.db import engine as db_engine


class Deferred:
    """A column value not converted yet: ``resolve()`` converts it once."""

    __slots__ = ("convert", "raw")

    def __init__(self, convert: Callable[[Any], Any], raw: Any):
        self.convert = convert
        self.raw = raw

    def resolve(self) -> Any:
        return self.convert(self.raw)

    def __repr__(self):
        return "<deferred %r>" % (self.raw,)


def resolve_all(values: dict) -> dict:
    """``values`` with every :class:`Deferred` converted, in place; returned."""
    for name, value in values.items():
        if type(value) is Deferred:
            values[name] = value.resolve()
    return values


class _Compiled:
    """One statement on one dialect: SQL text, parameter order, conversions."""

    __slots__ = ("sql", "positional", "names", "defaults", "binders", "columns",
                 "converters")

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        self.names = (tuple(compiled.positiontup) if self.positional
                      else tuple(compiled.binds))
        self.defaults = {}
        self.binders = {}
        for name in self.names:
            bind = compiled.binds[name]
            if not bind.required and bind.value is not None:
                self.defaults[name] = bind.value
            process = _fast_binder(bind.type, dialect) or bind.type.dialect_impl(
                dialect).bind_processor(dialect)
            if process is not None:
                self.binders[name] = process
        returning = statement.exported_columns if _returns_rows(statement) else ()
        self.columns = tuple(column.key for column in returning)
        converters = []
        for column in returning:
            if isinstance(column.type, sa.JSON):
                # psycopg decodes json itself; sqlite hands over text.
                converters.append(None if dialect.name == "postgresql"
                                  else db_engine.json_loads)
            else:
                converters.append(column.type.dialect_impl(dialect).result_processor(
                    dialect, None))
        self.converters = tuple(converters)

    def parameters(self, params: Mapping[str, Any]):
        """``params`` bound and converted, in the form the DB-API's paramstyle takes."""
        defaults, binders = self.defaults, self.binders
        values = []
        for name in self.names:
            value = params[name] if name in params else defaults.get(name)
            process = binders.get(name)
            values.append(value if process is None or value is None else process(value))
        return tuple(values) if self.positional else dict(zip(self.names, values))

    def row(self, values) -> dict:
        row = {}
        for name, convert, value in zip(self.columns, self.converters, values):
            if convert is None or value is None:
                row[name] = value
            else:
                row[name] = Deferred(convert, value)
        return row


def _fast_binder(type_, dialect):
    """A cheaper equivalent of the dialect's own conversion, where there is one.

    SQLite stores a DateTime as text; SQLAlchemy's default format is what
    ``isoformat`` writes for a naive datetime (the test suite checks they
    agree). Anything else goes through SQLAlchemy's processor.
    """
    if dialect.name != "sqlite" or type(type_) is not sa.DateTime:
        return None
    impl = type_.dialect_impl(dialect)
    if getattr(impl, "_storage_format", None) != _SQLITE_DEFAULT_DATETIME:
        return None
    slow = impl.bind_processor(dialect)

    def to_text(value):
        if type(value) is datetime.datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return slow(value)
    return to_text


#: SQLAlchemy's default SQLite DATETIME storage format.
_SQLITE_DEFAULT_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d")


def _returns_rows(statement):
    return bool(getattr(statement, "_returning", ())) or isinstance(statement, sa.Select)


class Prepared:
    """A Core statement run on :class:`hwdrivers.db.engine.RawTransaction`s."""

    def __init__(self, statement):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(dialect.name)
                if compiled is None:
                    compiled = self._compiled[dialect.name] = _Compiled(
                        self.statement, dialect)
        return compiled

    def first(self, txn, params: Mapping[str, Any]) -> dict | None:
        """Run and return the first row (converted lazily), or None."""
        compiled = self._for(txn.dialect)
        cursor = txn.connection.execute(compiled.sql, compiled.parameters(params))
        values = cursor.fetchone()
        cursor.close()
        return None if values is None else compiled.row(values)

    def rowcount(self, txn, params: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        compiled = self._for(txn.dialect)
        cursor = txn.connection.execute(compiled.sql, compiled.parameters(params))
        count = cursor.rowcount
        cursor.close()
        return count
