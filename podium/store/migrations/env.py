"""Alembic environment: the store passes its connection in ``config.attributes['connection']``."""

from alembic import context

from podium.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
