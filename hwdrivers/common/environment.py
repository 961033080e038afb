"""The environment of helper processes: the little they need, nothing of ours.

The conductor's environment may hold credentials (a database URL, API
tokens, cloud keys). A power script, an external driver or the ssh client
needs none of them: a PATH to find tools, a locale, a HOME (ssh reads
``~/.ssh``). Every helper a driver starts gets :func:`minimal`, plus the
variables the driver itself declares (e.g. the command driver's secret).
"""

import os
from collections.abc import Mapping

#: Variables copied from the conductor's environment when set.
KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOME")
#: PATH when the conductor has none.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def minimal(extra: Mapping[str, str] | None = None,
            keep: tuple[str, ...] = ()) -> dict[str, str]:
    """A new environment: :data:`KEPT` and ``keep`` from ours, then ``extra``."""
    env = {k: os.environ[k] for k in KEPT + tuple(keep) if k in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(extra or {})
    return env
