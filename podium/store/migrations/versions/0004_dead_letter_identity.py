"""Dead letters get an identity: one open letter per unchanged bad record, closed when it is stored.

Adds ``fingerprint`` (sha256 of house, connector, stream, source id and raw content), ``seen_count``,
``last_seen_at``, ``last_stream_run_id`` and ``closed_at``. Existing letters get their fingerprint;
of several open copies of one record (one per sync before this revision) the oldest stays open with
the copies counted in ``seen_count``, the others become ``duplicate``.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from podium.store.store import dead_letter_fingerprint

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(64)))
        batch.add_column(sa.Column("seen_count", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("last_stream_run_id", sa.String(36)))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.create_index("ix_dead_letters_fingerprint", "dead_letters", ["fingerprint"])
    op.create_index("ix_dead_letters_source", "dead_letters", ["house", "connector", "stream", "source_id"])
    letters = sa.table("dead_letters", sa.column("id", sa.Integer), sa.column("house", sa.String),
                       sa.column("connector", sa.String), sa.column("stream", sa.String),
                       sa.column("source_id", sa.String), sa.column("raw", sa.Text),
                       sa.column("status", sa.String), sa.column("created_at", sa.DateTime(timezone=True)),
                       sa.column("fingerprint", sa.String), sa.column("seen_count", sa.Integer),
                       sa.column("last_seen_at", sa.DateTime(timezone=True)))
    conn = op.get_bind()
    first_open: dict[str, tuple[int, int]] = {}  # fingerprint -> (id of the open letter kept, copies)
    rows = conn.execute(sa.select(letters.c.id, letters.c.house, letters.c.connector, letters.c.stream,
                                  letters.c.source_id, letters.c.raw, letters.c.status, letters.c.created_at)
                        .order_by(letters.c.id)).all()
    for row in rows:
        fingerprint = dead_letter_fingerprint(row.house, row.connector, row.stream, row.source_id,
                                              (row.raw or "").encode())
        values: dict[str, object] = {"fingerprint": fingerprint, "last_seen_at": row.created_at}
        if row.status == "open":
            kept = first_open.get(fingerprint)
            if kept is None:
                first_open[fingerprint] = (row.id, 1)
            else:
                first_open[fingerprint] = (kept[0], kept[1] + 1)
                values["status"] = "duplicate"
        conn.execute(sa.update(letters).where(letters.c.id == row.id).values(**values))
    for letter_id, copies in first_open.values():
        if copies > 1:
            conn.execute(sa.update(letters).where(letters.c.id == letter_id).values(seen_count=copies))


def downgrade() -> None:
    op.drop_index("ix_dead_letters_source", "dead_letters")
    op.drop_index("ix_dead_letters_fingerprint", "dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        for name in ("closed_at", "last_stream_run_id", "last_seen_at", "seen_count", "fingerprint"):
            batch.drop_column(name)
