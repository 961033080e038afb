"""bios_settings bounds and lengths as 64-bit integers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

A BIOS attribute registry bounds its Integer attributes with whatever the
vendor chose, and 4294967295 (an unsigned 32-bit field) is common. The
columns were 32-bit on PostgreSQL, so saving such a registry failed with
"integer out of range": the BIOS cache of the node went stale after an
inspection, and a BIOS clean step that had changed the BIOS failed at its
end. SQLite's INTEGER was already 64-bit; its table is rebuilt to match.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("lower_bound", "upper_bound", "min_length", "max_length")


def upgrade():
    with op.batch_alter_table("bios_settings") as batch:
        for column in COLUMNS:
            batch.alter_column(column, type_=sa.BigInteger, existing_type=sa.Integer,
                               existing_nullable=True)


def downgrade():
    # A bound a 32-bit column cannot hold is forgotten (read as "no bound"),
    # as the next BIOS read would store it anyway.
    for column in COLUMNS:
        op.execute(sa.text(
            "UPDATE bios_settings SET %(c)s = NULL "
            "WHERE %(c)s > 2147483647 OR %(c)s < -2147483648" % {"c": column}))
    with op.batch_alter_table("bios_settings") as batch:
        for column in COLUMNS:
            batch.alter_column(column, type_=sa.Integer, existing_type=sa.BigInteger,
                               existing_nullable=True)
