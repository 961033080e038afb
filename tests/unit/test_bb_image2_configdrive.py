"""Config drive blobs the conductor passes to the agent: base64 as tools wrap it."""

import base64
import gzip

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import configdrive

#: mtime=0: the same bytes however late it is built (pytest-xdist workers must
#: collect the same tests)
BLOB = base64.b64encode(gzip.compress(b"an iso" * 100, mtime=0)).decode()


@pytest.mark.parametrize("text", [
    "\n".join(BLOB[i:i + 40] for i in range(0, len(BLOB), 40)),  # base64 -w 40
    "\n" + BLOB,                                                    # pasted after a newline
    "\r\n".join(BLOB[i:i + 8] for i in range(0, len(BLOB), 8)),
], ids=["wrapped-40", "leading-newline", "crlf-8"])
def test_wrapped_base64_of_gzip_passes(text):
    assert configdrive.normalise(text) == text


def test_base64_of_something_else_is_still_refused():
    with pytest.raises(exception.InvalidParameterValue, match="gzip-compressed, base64"):
        configdrive.normalise("\n" + base64.b64encode(b"plain text, not gzip").decode())
