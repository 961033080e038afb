"""API microversions: negotiation and the headers every response carries.

Ironic's clients pick a version by reading ``X-OpenStack-Ironic-API-Minimum-
Version``/``Maximum-Version`` (on any response, errors included) and then send
``X-OpenStack-Ironic-API-Version`` or ``OpenStack-API-Version: baremetal X.Y``.
We serve one range; inside it we return the same node document (fields newer
than the requested version are simply present or null), which both clients
accept. MAX_VERSION is openstacksdk's node ``_max_microversion`` (1.109), so
the SDK uses its newest code paths; python-ironicclient (latest 1.115)
negotiates down to it.
"""

import functools
import re

from hwdrivers.api import errors

MIN_VERSION = (1, 1)
MAX_VERSION = (1, 109)
#: The version a request without a version header gets (Ironic's rule).
DEFAULT_VERSION = MIN_VERSION

HEADER = "X-OpenStack-Ironic-API-Version"
MIN_HEADER = "X-OpenStack-Ironic-API-Minimum-Version"
MAX_HEADER = "X-OpenStack-Ironic-API-Maximum-Version"
GENERIC_HEADER = "OpenStack-API-Version"
SERVICE_TYPE = "baremetal"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")


def fmt(version):
    return "%d.%d" % version


def _range_text():
    return "%s to %s" % (fmt(MIN_VERSION), fmt(MAX_VERSION))


def parse(text):
    """``"1.31"`` or ``"latest"`` -> (1, 31); NotAcceptable otherwise."""
    text = (text or "").strip()
    if text.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(text)
    if not match:
        raise errors.NotAcceptable(
            "Invalid API version %r in the %s header; use MAJOR.MINOR (e.g. %s) "
            "or 'latest'. Supported versions: %s." % (text, HEADER, fmt(MAX_VERSION),
                                                     _range_text()))
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise errors.NotAcceptable(
            "Version %s was requested but the minor version is not supported by "
            "this service. The supported version range is: [%s, %s]."
            % (fmt(version), fmt(MIN_VERSION), fmt(MAX_VERSION)))
    return version


def _from_generic(value):
    """The baremetal entry of ``OpenStack-API-Version`` (may list services)."""
    for part in value.split(","):
        words = part.strip().split(None, 1)
        if len(words) == 2 and words[0].lower() == SERVICE_TYPE:
            return words[1]
    return None


def requested(headers):
    """The version a request asks for (DEFAULT_VERSION when it names none)."""
    text = headers.get(HEADER)
    if text is None and headers.get(GENERIC_HEADER):
        text = _from_generic(headers[GENERIC_HEADER])
    if text is None:
        return DEFAULT_VERSION
    return parse(text)


_MIN_TEXT = fmt(MIN_VERSION)
_MAX_TEXT = fmt(MAX_VERSION)
_VARY = "%s, %s" % (HEADER, GENERIC_HEADER)


@functools.lru_cache(maxsize=256)
def header_items(version=None):
    """Min/max (always) and the version served (when known), as sent: (name, value) pairs.

    Cached per version: a busy server answers a handful of versions
    thousands of times a second (the fast path adds these to its own list).
    """
    items = ((MIN_HEADER, _MIN_TEXT), (MAX_HEADER, _MAX_TEXT))
    if version is None:
        return items
    text = fmt(version)
    return items + ((HEADER, text), (GENERIC_HEADER, "%s %s" % (SERVICE_TYPE, text)),
                    ("Vary", _VARY))


def add_headers(response, version=None):
    """:func:`header_items` set on a werkzeug ``response`` (a Vary it has is kept)."""
    headers = response.headers
    for name, value in header_items(version):
        if name == "Vary" and headers.get("Vary"):
            value = "%s, %s" % (headers["Vary"], value)
        headers[name] = value
    return response


def version_document(base_url):
    """The ``version`` object of ``GET /`` and ``GET /v1``."""
    return {
        "id": "v1",
        "links": [{"href": "%s/v1/" % base_url, "rel": "self"}],
        "status": "CURRENT",
        "min_version": fmt(MIN_VERSION),
        "version": fmt(MAX_VERSION),
    }
