"""Conductor group names in lower case: they are case-insensitive.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

As in Ironic, ``DC2`` and ``dc2`` name one group. Nodes and conductors now
store the name lowered; rows written before kept the operator's spelling,
so a node set to ``DC2`` would never be driven by a conductor of group
``dc2`` (nor, after this release, by one configured ``DC2``). Lowering them
once here makes every stored name match the new rule.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    for table in ("nodes", "conductors"):
        op.execute(sa.text(
            "UPDATE %s SET conductor_group = lower(conductor_group) "
            "WHERE conductor_group <> lower(conductor_group)" % table))


def downgrade():
    pass  # the original spellings are not kept; lowered names work as before
