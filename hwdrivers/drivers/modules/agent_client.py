"""The conductor's client of a ramdisk agent (ironic-python-agent's command API).

``POST <agent>/v1/commands/`` starts ``<extension>.<name>`` with ``params``;
``GET <agent>/v1/commands/<id>`` reads its status (RUNNING, SUCCEEDED,
FAILED) and error. Every call carries the node's agent token in the
``agent_token`` query parameter, as Ironic sends it; the request's URL
therefore never reaches a log line or an exception (the command's name and
the agent's callback URL do). Errors map to the driver taxonomy: the agent
not answering, or answering bytes that are not HTTP, is a connection error
(retried as such), a 401 an auth error, anything else an action error
carrying the agent's ``faultstring``.
"""

import json
import logging
import urllib.parse

from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.drivers import params

LOG = logging.getLogger(__name__)

RUNNING, SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "FAILED"
STATUSES = (RUNNING, SUCCEEDED, FAILED)


class AgentCommandFailed(exception.DriverError):
    """The agent ran the command and it failed (its own error is the message).

    Not retried: the agent already retried what can be (a broken download).
    """

    taxonomy = "actionError"


#: Characters of an agent's error quoted in a DriverError (so in last_error, which
#: every node listing carries): IPA quotes a tool's whole stdout and stderr.
QUOTED = 2000


def _fault(body: object, raw: str) -> str:
    """The peer's error text, whole: the caller masks the token in it, then cuts it
    (cut first, a token across the cut would show its first characters)."""
    if isinstance(body, dict):
        return str(body.get("faultstring") or body.get("error_message") or raw)
    return raw.strip()


def command_error_text(result: dict) -> str:
    """A command's error as one line: ``ImageChecksumError: ...``, cut after QUOTED."""
    error = result.get("command_error")
    if isinstance(error, dict):
        kind = error.get("type") or "Error"
        text = "%s: %s" % (kind, error.get("details") or error.get("message") or error)
    else:
        text = str(error)
    return log_text.cut(text, QUOTED)


class AgentClient:
    """Commands to one agent, identified by its callback URL and token."""

    def __init__(self, url: str, token: str, node: str, timeout: float = 60.0,
                 verify_ca: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.node = node
        self.timeout = timeout
        #: PEM of the certificate an https agent presented in its heartbeats
        #: (IPA's automatic TLS): the agent is verified against it alone
        self.verify_ca = verify_ca
        self.host = urllib.parse.urlparse(self.url).netloc
        self.where = "agent %s" % self.host

    def _request(self, method: str, path: str, body: object = None,
                 what: str = "") -> dict:
        import http.client  # here: the CLI's local commands import this module, rarely call it
        import urllib.error
        import urllib.request

        query = urllib.parse.urlencode({"agent_token": self._token})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            "%s%s?%s" % (self.url, path, query), data=data, method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout,
                                        context=self._tls()) as resp:
                raw = resp.read().decode("utf-8", "replace")
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode("utf-8", "replace")
            status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise exception.DriverConnectionError(
                "the agent did not answer %s: %s" % (what, reason),
                node=self.node, controller=self.where) from None
        except http.client.HTTPException as exc:
            # Bytes that are not HTTP (a bad status line, a cut body): a proxy
            # restarting or another service on the port, as transient as no answer
            raise exception.DriverConnectionError(
                "the agent at %s did not answer %s in HTTP (%s: %s); is it the agent "
                "listening there?" % (params.without_password(self.url), what,
                                      type(exc).__name__, self._quoted(exc)),
                node=self.node, controller=self.where) from None
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if status == 401:
            raise exception.DriverAuthError(
                "the agent refused the agent token for %s (was it booted for another "
                "deploy?): %s" % (what, self._peer_text(parsed, raw)),
                node=self.node, controller=self.where)
        if status >= 400 or not isinstance(parsed, dict):
            raise exception.DriverActionError(
                "the agent answered %s with HTTP %d: %s"
                % (what, status, self._peer_text(parsed, raw)),
                node=self.node, controller=self.where)
        return parsed

    def _tls(self):
        """The TLS context for an https agent: its own certificate, else the system CAs.

        ironic-python-agent serves https with a certificate it made itself
        whenever the API is 1.68 or newer (``enable_auto_tls``, its default)
        and sends it in each heartbeat as ``agent_verify_ca``: verified
        against the system CAs, every command to it failed
        (CERTIFICATE_VERIFY_FAILED) and no deploy with IPA could finish.
        """
        if not self.verify_ca or not self.url.startswith("https://"):
            return None
        import ssl
        return ssl.create_default_context(cadata=self.verify_ca)

    def _masked(self, text: str) -> str:
        """The peer's ``text`` with the agent token masked, as sent or URL-encoded.

        A peer that is not the agent (a wrong port, a proxy's error page) may
        quote the request target, query and token included, in its error
        body ("Cannot POST /v1/commands/?agent_token=..."): quoted as it was,
        the token reached last_error, the node's history and the log.
        """
        return params.redact(text, [self._token, urllib.parse.quote_plus(self._token or "")])

    def _peer_text(self, body: object, raw: str) -> str:
        """What the peer said about an error: token masked, then cut after QUOTED."""
        return log_text.cut(self._masked(_fault(body, raw)),
                            QUOTED if isinstance(body, dict) else 500)

    def _quoted(self, exc: Exception) -> str:
        """What broke the answer, as a line: a peer echoing the request line back
        as its status line would quote the token, which is masked."""
        text = self._masked(log_text.printable(str(exc)))
        return log_text.cut(text, 200)

    def start(self, name: str, params: dict) -> dict:
        """Start a command; returns its result document (status RUNNING for async ones).

        A running command must come with its ``id``, the only way to poll it:
        without one, the deploy step failed with a bare ``'id'`` (a KeyError)
        naming neither the agent nor what was wrong with its answer.
        """
        result = self._checked(
            self._request("POST", "/v1/commands/", {"name": name, "params": params},
                          what="command %s" % name), "command %s" % name)
        command_id = result.get("id")
        if result.get("command_status") == RUNNING and (
                not isinstance(command_id, str) or not command_id):
            raise exception.DriverActionError(
                "the agent answered command %s as running but gave no command id to "
                "poll (id: %s); is an ironic-python-agent compatible agent listening "
                "there?" % (name, log_text.cut(repr(command_id), 40)),
                node=self.node, controller=self.where)
        return result

    def status(self, command_id: str, name: str = "") -> dict:
        what = "the status of command %s" % (name or command_id)
        return self._checked(
            self._request("GET", "/v1/commands/%s" % urllib.parse.quote(command_id),
                          what=what), what)

    def _checked(self, result: dict, what: str) -> dict:
        """``result`` when it carries a command status the conductor knows.

        Every answer of the command API says whether the command runs,
        succeeded or failed; a peer answering other JSON (another service
        on the port, a health page) was taken for a failed command and the
        deploy failed with "agent command None failed: None".
        """
        status = result.get("command_status")
        if status not in STATUSES:
            raise exception.DriverActionError(
                "the agent answered %s without a command_status of RUNNING, SUCCEEDED or "
                "FAILED (command_status: %s; fields: %s); is an ironic-python-agent "
                "compatible agent listening at %s?" % (
                    what, log_text.cut(self._masked(repr(status)), 40),
                    log_text.cut(self._masked(", ".join(sorted(map(str, result))) or "none"),
                                 120),
                    params.without_password(self.url)),
                node=self.node, controller=self.where)
        return result

    def run(self, name: str, params: dict) -> dict:
        """A synchronous command: its ``command_result``, or AgentCommandFailed."""
        result = self.start(name, params)
        if result.get("command_status") == FAILED:
            raise AgentCommandFailed("agent command %s failed: %s" % (
                name, command_error_text(result)), node=self.node, controller=self.where)
        return result.get("command_result") or {}
