"""The two calls a deploy ramdisk's agent makes: ``/v1/lookup`` and ``/v1/heartbeat``.

As Ironic serves them to ironic-python-agent (and to hwdrivers-agent, which
speaks the same protocol). They carry no user credentials — a ramdisk has
none — so the auth middleware lets exactly these two routes through
(api/auth.py); the agent token is the credential instead. Lookup finds the
node by one of its ports' MAC addresses (or ``node_uuid``) and only while
the node waits for an agent; it hands out the one-time token. A heartbeat
must carry that token (401 otherwise) and continues the deploy in a worker
(202). See conductor/deployments.py.
"""

import logging
import urllib.parse

import flask

from hwdrivers.api import errors
from hwdrivers.api import utils
from hwdrivers.common import exception
from hwdrivers.conductor import deployments
from hwdrivers.db import api as db_api

blueprint = flask.Blueprint("ramdisk", __name__)
LOG = logging.getLogger(__name__)


def without_node_details(call, what: str):
    """``call()``; a NotFound it raises reaches the caller without its details.

    The ramdisk routes answer anyone who reaches the API, with no user
    credential. Which node a MAC or BMC address belongs to, and that node's
    state, would let such a caller map the fleet (Ironic answers a bare 404
    too): the reason goes to the API's log, for the operator.
    """
    try:
        return call()
    except exception.NotFound as exc:
        LOG.warning("%s from %s refused: %s", what, flask.request.remote_addr, exc)
        raise exception.NotFound(
            "No node is waiting for this %s; the API's log says why (the machine's "
            "ports must be enrolled, and the node waiting for its ramdisk)." % what
        ) from None


def _macs(text: str) -> list[str]:
    """The MAC addresses of ``addresses``, normalised; the rest left out, as Ironic.

    IPA sends every NIC's address, an InfiniBand one (20 bytes) included. A
    lookup with none that is a MAC was a 404 quoting all it was sent
    ("No node has a port with MAC address xxxx...", kilobytes of it).
    """
    macs = []
    for address in text.split(","):
        try:
            macs.append(db_api.normalize_mac(address))
        except exception.InvalidParameterValue:
            continue
    return macs


@blueprint.get("/v1/lookup")
def lookup():
    utils.check_query(("addresses", "node_uuid"))
    args = flask.request.args
    addresses = _macs(args.get("addresses") or "")
    node_uuid = args.get("node_uuid") or None
    if not addresses and not node_uuid:
        raise errors.APIError("Query parameter addresses (the machine's MAC addresses "
                              "aa:bb:cc:dd:ee:ff, comma-separated) or node_uuid is required"
                              "%s." % ("; none of those sent is a MAC address"
                                       if args.get("addresses", "").strip() else ""))
    return utils.json_response(without_node_details(
        lambda: deployments.lookup(utils.context(), addresses, node_uuid), "lookup"))


#: Heartbeat fields that must be strings when sent. ``agent_version`` was
#: kept as sent (``5``, ``{...}``) in driver_internal_info, which the deploy
#: reads to know what the agent can do.
_STRING_FIELDS = ("agent_token", "agent_version", "agent_verify_ca", "agent_status",
                  "agent_status_message")


@blueprint.post("/v1/heartbeat/<ident>")
def heartbeat(ident):
    utils.check_query(())
    body = utils.json_body()
    utils.check_keys(body, ("callback_url", "agent_token", "agent_version",
                            "agent_verify_ca", "agent_status", "agent_status_message"),
                     "heartbeat")
    callback_url = utils.require(body, "callback_url", str, "heartbeat", "a URL")
    _check_callback_url(callback_url)
    for field in _STRING_FIELDS:  # Ironic's args.string: a number is a 400
        if body.get(field) is not None and not isinstance(body[field], str):
            raise errors.APIError("Field %s must be a string, not %s."
                                  % (field, type(body[field]).__name__))
    verify_ca = body.get("agent_verify_ca") or None
    if verify_ca is not None:
        _check_certificate(verify_ca, callback_url)
    utils.manager().agent_heartbeat(utils.context(), ident, callback_url,
                                    body.get("agent_token"),
                                    agent_version=body.get("agent_version"),
                                    agent_verify_ca=verify_ca)
    return utils.empty_response(202)


def _check_callback_url(url: str) -> None:
    """An http(s) URL with a host and a valid port, nothing the agent client
    could not send to: stored as given, a trailing newline or a bad port made
    every later command to the agent fail with an error naming neither."""
    problem = None
    if not url.startswith(("http://", "https://")):
        problem = "must be an http(s) URL of the agent"
    elif any(ord(char) < 0x21 or ord(char) == 0x7f for char in url):
        problem = "must not contain spaces or control characters"
    else:
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad one
        except ValueError as exc:
            problem = "is not a valid URL (%s)" % exc
        else:
            if not parts.hostname:
                problem = "has no host"
    if problem is not None:
        raise errors.APIError("Field callback_url %s: the agent's API as it listens "
                              "(http://<address>:9999)." % problem)


def _check_certificate(pem: str, callback_url: str) -> None:
    """``agent_verify_ca``: a PEM certificate, for an https callback_url (IPA's auto-TLS)."""
    import ssl

    if not callback_url.startswith("https://"):
        raise errors.APIError("Field agent_verify_ca is for an agent serving https; "
                              "callback_url is not an https URL.")
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise errors.APIError("Field agent_verify_ca is not a PEM certificate (%s)."
                              % type(exc).__name__) from None
