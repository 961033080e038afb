"""Config drives: the OpenStack ``config-2`` ISO an instance's cloud-init reads.

A deploy request may carry ``configdrive`` as Ironic accepts it: a JSON
object (``meta_data``, ``user_data``, ``network_data``, ``vendor_data``)
that the conductor builds into an ISO 9660 image labelled ``config-2``
(``openstack/latest/meta_data.json`` ...; its ``uuid`` and ``name`` default
to the node's, as in Ironic) with pycdlib, then gzips and
base64-encodes, which is what the agent writes to the disk; or a string that
already is such a blob, or an http(s) URL of one, passed through unchanged.
Everything is checked before the deploy starts: a bad config drive is a 400
naming the field, and the node is unchanged.
"""

import base64
import binascii
import gzip
import io
import json
import urllib.parse

from hwdrivers.common import exception

LABEL = "config-2"
#: the agent's partition limit; the ISO must fit it
MAX_ISO_SIZE = 64 * 1024 * 1024
#: key -> (file under openstack/latest/, how the value becomes bytes)
_FILES = {
    "meta_data": "meta_data.json",
    "network_data": "network_data.json",
    "vendor_data": "vendor_data.json",
    "user_data": "user_data",
}


def _json_bytes(key: str, value: object) -> bytes:
    if not isinstance(value, dict):
        raise exception.InvalidParameterValue(
            "configdrive %s must be a JSON object, got %s" % (key, type(value).__name__))
    return json.dumps(value, sort_keys=True).encode()


def _user_data(value: object) -> bytes:
    """user_data: a string (a script, #cloud-config) or JSON, stored as given."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (dict, list)):
        return json.dumps(value).encode()
    raise exception.InvalidParameterValue(
        "configdrive user_data must be a string or JSON, got %s" % type(value).__name__)


def _contents(drive: dict) -> dict[str, bytes]:
    unknown = sorted(set(drive) - set(_FILES))
    if unknown:
        raise exception.InvalidParameterValue(
            "configdrive has unknown key(s) %s; use %s" % (
                ", ".join(unknown), ", ".join(sorted(_FILES))))
    contents = {}
    for key, name in _FILES.items():
        if drive.get(key) is None:
            continue
        value = drive[key]
        contents[name] = _user_data(value) if key == "user_data" else _json_bytes(key, value)
    return contents


def build_iso(drive: dict) -> bytes:
    """The ``config-2`` ISO 9660 image (Rock Ridge and Joliet names) for ``drive``."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    for depth, name in enumerate(("openstack", "latest")):
        path = "/openstack" if depth == 0 else "/openstack/latest"
        iso.add_directory(path.upper(), rr_name=name, joliet_path=path)
    for name, data in sorted(_contents(drive).items()):
        short = name.upper().replace("-", "_")
        iso.add_fp(io.BytesIO(data), len(data), "/OPENSTACK/LATEST/%s;1" % short,
                   rr_name=name, joliet_path="/openstack/latest/%s" % name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def encode(image: bytes) -> str:
    """gzip then base64: how the agent's ``configdrive`` parameter carries an ISO."""
    return base64.b64encode(gzip.compress(image, mtime=0)).decode("ascii")


def _check_url(text: str) -> None:
    """A config drive URL the agent can fetch: a host, a valid port.

    Caught here, before the node is touched: the agent found ``http://`` or
    ``http://[::1`` only after a power cycle and a ramdisk boot.
    """
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is None or not parts.hostname:
        # Not quoted: a URL may carry credentials (user:password@, a signed query).
        raise exception.InvalidParameterValue(
            "configdrive is not an http(s) URL with a host (and a valid port), such "
            "as https://configs.example/web1.iso.gz.b64")


def _base64_head(text: str) -> bytes:
    """The first whole base64 quanta of ``text`` (at most 64 characters), line breaks out.

    ``base64 -w 40`` output, or a blob pasted with a leading newline, is
    what the agent decodes; only the first 64 characters were looked at,
    raw, so such a config drive was refused here.
    """
    head = "".join(text[:256].split())[:64]
    return head[:len(head) // 4 * 4].encode("ascii")


def _check_blob(text: str) -> None:
    if text.startswith(("http://", "https://")):
        _check_url(text)
        return
    try:
        head = base64.b64decode(_base64_head(text), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        head = b""
    if not head.startswith(b"\x1f\x8b"):
        raise exception.InvalidParameterValue(
            "configdrive must be a JSON object (meta_data, user_data, network_data), "
            "an http(s) URL, or a gzip-compressed, base64-encoded ISO; the string given "
            "is none of these")


def with_node_meta_data(drive: dict, node) -> dict:
    """``drive`` with ``meta_data`` ``uuid`` (and ``name``) defaulting to the node's.

    As Ironic builds a config drive: one given only ``user_data`` had no
    ``meta_data.json`` at all, which cloud-init's config drive source needs,
    so the instance came up unconfigured. A ``meta_data`` that is not an
    object is left for :func:`build_iso` to refuse.
    """
    meta = drive.get("meta_data")
    if meta is not None and not isinstance(meta, dict):
        return drive
    meta = dict(meta or {})
    meta.setdefault("uuid", node.uuid)
    if getattr(node, "name", None):
        meta.setdefault("name", node.name)
    return dict(drive, meta_data=meta)


def normalise(value: object, node=None) -> str | None:
    """What the agent gets for ``value``: None, a URL, or an encoded ISO.

    ``node``: whose uuid and name a JSON config drive's ``meta_data`` defaults to.
    Raises InvalidParameterValue naming the problem; builds nothing twice.
    """
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        image = build_iso(with_node_meta_data(value, node) if node is not None else value)
        if len(image) > MAX_ISO_SIZE:
            raise exception.InvalidParameterValue(
                "configdrive builds a %d-byte ISO; the limit is %d bytes (64 MiB)"
                % (len(image), MAX_ISO_SIZE))
        return encode(image)
    if isinstance(value, str):
        _check_blob(value)
        return value
    raise exception.InvalidParameterValue(
        "configdrive must be a JSON object or a string, got %s" % type(value).__name__)


def read_iso(image: bytes) -> dict[str, bytes]:
    """``{"openstack/latest/<name>": bytes}`` of a config drive ISO (for checks, tests)."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    files = {}
    try:
        for root, _dirs, names in iso.walk(rr_path="/"):
            for name in names:
                path = "%s/%s" % (root.rstrip("/"), name)
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, rr_path=path)
                files[path.lstrip("/")] = out.getvalue()
        label = iso.pvd.volume_identifier.decode().strip()
    finally:
        iso.close()
    files["<label>"] = label.encode()
    return files
