"""``--storage`` problems as one-line user errors: the URL shown without its password."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from emoalign._urls import redact


def _driver(storage: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(storage).get_driver_name()
    except Exception:  # a plain SQLite path
        return None


@contextlib.contextmanager
def storage_errors(storage: str | None) -> Iterator[None]:
    """Turns a study database that cannot be reached, named, read or loaded into a ValueError
    naming ``--storage`` (the only database of ``emoalign align``, so the URL is the user's)."""
    import sqlalchemy.exc

    try:
        yield
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.DatabaseError) as exc:
        if storage is None:
            raise
        # The driver's first line says why (refused, unknown host, bad password, not a database)
        # and holds no secret.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ValueError(
            f"--storage {redact(storage)}: the study database cannot be used ({reason}); check the "
            "URL and that the server is running, or give a new SQLite file path"
        ) from exc
    except ModuleNotFoundError as exc:
        if storage is None:
            raise
        driver = _driver(storage)
        module = (exc.name or "").split(".")[0]
        if driver is None or module.lower() != driver.lower():
            raise  # not the database driver: a broken installation, keep the traceback
        raise ValueError(
            f"--storage {redact(storage)}: its database driver {module!r} is not installed; "
            f"pip install {module} (for postgresql+psycopg: pip install 'emoalign[postgres]')"
        ) from exc
