"""Canonical records keyed by their natural key; the raw hash of each source record.

``canonical_records`` gets (house, source system, entity, source id) as its primary key instead of
the random UUIDv5 ``id`` (kept as a column: it is the record's canonical id, derived from that key).
Consecutive vendor ids land next to each other in the key's B-tree, where a UUID index wrote every
row into a random leaf. ``revision`` counts a record's content changes (1 when first stored): the
page upsert returns it, so one statement tells inserted from updated without reading first.

``source_records`` holds, per raw record (an order, an event) of a house × connector × stream, the
hash of the raw record together with the mapping it was mapped with, and how many canonical records
it gave: a re-read raw record with the same hash is not mapped again.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
_COLUMNS = ("id, house, entity, source_system, source_id, content_hash, data, deleted, modified, parent_key, "
            "first_run_id, last_run_id, updated_at")


def _records_table(name: str, *, natural_key: bool) -> None:
    op.create_table(
        name,
        sa.Column("house", sa.String(64), nullable=False, primary_key=natural_key),
        sa.Column("source_system", sa.String(64), nullable=False, primary_key=natural_key),
        sa.Column("entity", sa.String(16), nullable=False, primary_key=natural_key),
        sa.Column("source_id", sa.String(255), nullable=False, primary_key=natural_key),
        sa.Column("id", sa.String(36), nullable=False, primary_key=not natural_key),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("modified", sa.String(32)),
        sa.Column("parent_key", sa.String(255)),
        sa.Column("first_run_id", sa.String(36)),
        sa.Column("last_run_id", sa.String(36)),
        sa.Column("updated_at", TZ, nullable=False),
        *([sa.Column("revision", sa.Integer, nullable=False, server_default="1")] if natural_key else []),
    )


def _swap(natural_key: bool) -> None:
    """Copy canonical_records into a new table of the other shape and put it in its place."""
    _records_table("canonical_records_next", natural_key=natural_key)
    op.execute(f"INSERT INTO canonical_records_next ({_COLUMNS}) SELECT {_COLUMNS} FROM canonical_records")
    op.drop_index("ix_canonical_parent", "canonical_records")
    op.drop_table("canonical_records")
    op.rename_table("canonical_records_next", "canonical_records")
    op.create_index("ix_canonical_parent", "canonical_records", ["house", "source_system", "entity", "parent_key"])


def upgrade() -> None:
    _swap(natural_key=True)
    if op.get_bind().dialect.name == "postgresql":
        # The PK index of the renamed table keeps its "_next" name; name it after the table.
        op.execute("ALTER INDEX canonical_records_next_pkey RENAME TO canonical_records_pkey")
    op.create_table(
        "source_records",
        sa.Column("house", sa.String(64), primary_key=True),
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("source_key", sa.String(255), primary_key=True),
        sa.Column("raw_hash", sa.String(64), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_records")
    _swap(natural_key=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX canonical_records_next_pkey RENAME TO canonical_records_pkey")
