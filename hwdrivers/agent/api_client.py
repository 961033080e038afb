"""The two calls the agent makes to the conductor: lookup and heartbeat.

As ironic-python-agent makes them: the API version is discovered once from
``GET /`` (``default_version.version``) and each call announces
``X-OpenStack-Ironic-API-Version`` capped at what the call needs (lookup:
1.62, the version that hands out the agent token; heartbeat: 1.68). The
heartbeat body grows with the version: ``callback_url`` always,
``agent_version`` from 1.36, ``agent_token`` from 1.62; ``agent_verify_ca``
(1.68, auto-TLS) is never sent because this agent serves plain HTTP.
Several API URLs may be given (comma-separated, as ``ipa-api-url``); a
connection error moves on to the next one.
"""

import dataclasses
import http.client
import json
import logging
import urllib.error
import urllib.request
from urllib import parse

from hwdrivers.agent import __version__
from hwdrivers.agent import errors

LOG = logging.getLogger(__name__)

MIN_VERSION = (1, 31)
AGENT_VERSION_VERSION = (1, 36)
AGENT_TOKEN_VERSION = (1, 62)
MAX_KNOWN_VERSION = (1, 68)


@dataclasses.dataclass
class Response:
    status: int
    body: object
    text: str


class APIClient:
    def __init__(self, api_urls: list[str], timeout: float = 30.0,
                 pinned_version: tuple[int, int] | None = None,
                 request_id: str | None = None) -> None:
        if not api_urls:
            raise ValueError("no API URL: give --api-url or ipa-api-url on the kernel command "
                             "line")
        self.api_urls = [url.rstrip("/") for url in api_urls]
        self.timeout = timeout
        self._version = pinned_version
        self.request_id = request_id

    def _request(self, method: str, path: str, body: object = None,
                 version: tuple[int, int] | None = None) -> Response:
        headers = {"Accept": "application/json", "Content-Type": "application/json",
                   "User-Agent": "hwdrivers-agent/%s" % __version__}
        if version:
            headers["X-OpenStack-Ironic-API-Version"] = "%d.%d" % version
        if self.request_id:
            headers["X-OpenStack-Request-ID"] = self.request_id
        data = json.dumps(body).encode() if body is not None else None
        last_error: Exception | None = None
        for index, base in enumerate(self.api_urls):
            request = urllib.request.Request(base + path, data=data, headers=headers,
                                             method=method)
            try:
                raw, status = self._send(request)
            except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
                LOG.warning("%s %s%s: %s", method, base, path.split("?")[0],
                            getattr(exc, "reason", exc) or type(exc).__name__)
                last_error = exc
                continue
            # the URL that answered goes first next time
            self.api_urls = self.api_urls[index:] + self.api_urls[:index]
            text = raw.decode("utf-8", "replace")
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            return Response(status, parsed, text)
        raise ConnectionError("no API URL answered: %s" % last_error)

    def _send(self, request: urllib.request.Request) -> tuple[bytes, int]:
        """(body, status) of one request, an HTTP error status included.

        An answer that is not HTTP (a proxy mid-restart, another service on
        the port, a status line cut off) raises http.client's BadStatusLine
        or IncompleteRead, which are no OSErrors: the caller takes them for
        the connection errors they are. Escaping, one ended the agent in
        lookup, or ended the heartbeat thread and the deploy timed out.
        """
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return resp.read(), resp.status
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.read(), exc.code

    def api_version(self) -> tuple[int, int]:
        if self._version:
            return self._version
        try:
            resp = self._request("GET", "/")
            major, minor = resp.body["default_version"]["version"].split(".")
            self._version = (int(major), int(minor))
        except Exception as exc:
            LOG.warning("could not discover the API version (%s); assuming %d.%d", exc,
                        *MIN_VERSION)
            return MIN_VERSION
        return self._version

    @staticmethod
    def error_text(resp: Response) -> str:
        body = resp.body
        if isinstance(body, dict):
            inner = body.get("error_message", body)
            if isinstance(inner, str):
                try:
                    inner = json.loads(inner)
                except ValueError:
                    inner = {"faultstring": inner}
            if isinstance(inner, dict):
                return "Error %d: %s" % (resp.status, inner.get("faultstring")
                                         or inner.get("title") or resp.text)
        return "Error %d: %s" % (resp.status, resp.text.strip()[:500])

    def lookup(self, macs: list[str], node_uuid: str | None = None) -> dict | None:
        """One lookup: the response (``node``, ``config``), or None to try again.

        A miss of any kind (unknown MAC, 409 node locked, connection refused,
        a body without ``node.uuid``) is logged and returns None.
        """
        query = {"addresses": ",".join(macs)}
        if node_uuid:
            query["node_uuid"] = node_uuid
        version = min(self.api_version(), AGENT_TOKEN_VERSION)
        try:
            resp = self._request("GET", "/v1/lookup?" + parse.urlencode(query),
                                 version=version)
        except ConnectionError as exc:
            LOG.warning("lookup failed: %s", exc)
            return None
        if resp.status != 200:
            LOG.warning("lookup with addresses %s: %s", query["addresses"],
                        self.error_text(resp))
            return None
        content = resp.body
        if (not isinstance(content, dict) or not isinstance(content.get("node"), dict)
                or "uuid" not in content["node"]):
            LOG.warning("lookup answered without node.uuid; ignored")
            return None
        if "config" not in content:
            if "heartbeat_timeout" not in content:
                LOG.warning("lookup answered without config; ignored")
                return None
            content["config"] = {"heartbeat_timeout": content.pop("heartbeat_timeout")}
        return content

    def heartbeat(self, node_uuid: str, callback_url: str, agent_token: str | None) -> None:
        version = min(self.api_version(), MAX_KNOWN_VERSION)
        body: dict = {"callback_url": callback_url}
        if version >= AGENT_TOKEN_VERSION:
            body["agent_token"] = agent_token
        if version >= AGENT_VERSION_VERSION:
            body["agent_version"] = __version__
        try:
            resp = self._request("POST", "/v1/heartbeat/%s" % parse.quote(node_uuid),
                                 body=body, version=version)
        except ConnectionError as exc:
            raise errors.HeartbeatError(str(exc))
        if resp.status == 409:
            raise errors.HeartbeatConflictError(self.error_text(resp))
        if resp.status != 202:
            raise errors.HeartbeatError(self.error_text(resp))
