"""Database URLs safe to print: the one place a password is masked, for the CLI's messages and a
study's provenance alike."""

from __future__ import annotations

import re

# scheme://user:password@host -> scheme://user:***@host (any scheme, e.g. postgresql+psycopg).
# The password runs to the last "@" before the host's "/" (an unescaped "@" in it is hidden too).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^\s/]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (paths pass as given)."""
    return _URL_PASSWORD.sub(r"\g<head>:***@", text)
