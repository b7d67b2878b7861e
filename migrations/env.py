"""Alembic environment: the engine comes from mlmaint (code) or from its config (CLI)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from daemon.store.tables import Base

# APScheduler's own table, if anyone ever points a job store here, is not ours.
_FOREIGN_TABLES = {"apscheduler_jobs"}


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name in _FOREIGN_TABLES)


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Our UTCDateTime is a plain timestamptz in the database: render it as one.
    from daemon.store.tables import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if engine is not None:
        return engine
    # `alembic -c migrations/alembic.ini ...`: use mlmaint's own config file.
    from daemon.config import Needs, default_config_path, load_config
    from daemon.store.engine import make_engine

    settings = load_config(default_config_path(), needs=Needs.STORE)
    return make_engine(settings.store.url, settings.store.password_secret())


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=_include_object,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=_render_item,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
