"""The migration layout of every service database created before the backbone had a branch
of its own (shared/backbone_migrations), frozen, to build such a database in a test.

Each service's history began with ``<svc>_0001``, which created the backbone tables from the
live table definitions, and added to them on its branch ``<svc>_backbone``
(``<svc>_backbone_0002`` .. ``_0005``); the service's own chain hung off ``<svc>_0001``.
Databases in use hold those revision ids in ``alembic_version``. ``today.py`` holds the five
backbone steps as they ran, each service's folder that revision graph, the service's own
revisions borrowed from services/<svc>/migrations. ``config`` drives Alembic over it.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

HERE = Path(__file__).parent


def config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(HERE / service))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
