"""Real peers for hwdrivers-agent on 127.0.0.1: an image server and a fake conductor.

``ImageServer`` serves files the way an image store would (sendfile, with
Content-Length), and on request misbehaves the way networks do: a
connection reset (or a clean close) after N bytes, every time or only the
first times, a body without Content-Length, a slow body, an HTTP error, a
body with one bit flipped (the first times). ``FakeConductor`` answers the
two calls an agent makes (``GET /v1/lookup``, ``POST
/v1/heartbeat/<node>``) as Ironic does, and records them. The benchmark
uses ``ImageServer`` too.
"""

import base64
import dataclasses
import http.server
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
from urllib import parse


@dataclasses.dataclass
class Resource:
    path: str | None = None          # a file to serve
    data: bytes | None = None        # or bytes
    status: int = 200
    drop_after: int | None = None    # reset the connection after this many body bytes
    drop_times: int | None = None    # ...on this many requests (None: every one)
    drop_clean: bool = False         # end the drop with a FIN (a clean close), not a RST
    corrupt_times: int = 0           # flip one byte of the body on this many first requests
    no_length: bool = False          # no Content-Length: the body ends when the socket closes
    delay: float = 0.0               # seconds to pause between 64 KiB pieces
    head_status: int | None = None   # HEAD's status when not GET's (405: no HEAD)
    basic_auth: str | None = None    # "user:password" the request must carry, else 401
    redirect: str | None = None      # a URL to send the client to (302)

    def size(self) -> int:
        return os.path.getsize(self.path) if self.path else len(self.data or b"")


class _Threaded(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """A client that hung up mid-answer (the agent giving up a download on
        purpose) is expected here, not a traceback on the test run's output."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _Base:
    handler: type

    def __init__(self) -> None:
        handler = type("Handler", (self.handler,), {"owner": self})
        self.httpd = _Threaded(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       kwargs={"poll_interval": 0.05})

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    owner: "ImageServer"

    def log_message(self, *args) -> None:
        pass

    def _refused(self, resource) -> bool:
        """Answered a 401 or a 302 instead of the resource; records the header seen."""
        with self.owner.lock:
            self.owner.authorizations.append(self.headers.get("Authorization"))
        if resource is not None and resource.redirect:
            self.send_response(302)
            self.send_header("Location", resource.redirect)
            self.end_headers()
            return True
        if resource is None or resource.basic_auth is None:
            return False
        wanted = "Basic " + base64.b64encode(resource.basic_auth.encode()).decode()
        if self.headers.get("Authorization") == wanted:
            return False
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="images"')
        self.end_headers()
        return True

    def do_HEAD(self) -> None:
        """The status and length a GET would have; counted apart (``heads``)."""
        path = parse.urlparse(self.path).path
        resource = self.owner.resources.get(path)
        with self.owner.lock:
            self.owner.heads[path] = self.owner.heads.get(path, 0) + 1
        if self._refused(resource):
            return
        status = 404 if resource is None else resource.head_status or resource.status
        self.send_response(status)
        if status == 200 and not resource.no_length:
            self.send_header("Content-Length", str(resource.size()))
        self.end_headers()

    def do_GET(self) -> None:
        path = parse.urlparse(self.path).path
        resource = self.owner.resources.get(path)
        with self.owner.lock:
            count = self.owner.requests[path] = self.owner.requests.get(path, 0) + 1
        if self._refused(resource):
            return
        if resource is None or resource.status != 200:
            status = resource.status if resource else 404
            body = b"not here\n"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        size = resource.size()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if not resource.no_length:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.flush()
        drop = resource.drop_after is not None and (
            resource.drop_times is None or count <= resource.drop_times)
        limit = resource.drop_after if drop else size
        corrupt = count <= resource.corrupt_times
        if resource.path and not resource.delay and not corrupt:
            with open(resource.path, "rb") as handle:
                if limit:
                    self.connection.sendfile(handle, 0, limit)
        else:
            data = resource.data if resource.data is not None else open(
                resource.path, "rb").read()
            if corrupt:  # one bit flipped in transit, past the first chunk
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:]
            for start in range(0, limit, 65536):
                self.wfile.write(data[start:min(limit, start + 65536)])
                self.wfile.flush()
                if resource.delay:
                    time.sleep(resource.delay)
        if drop and not resource.drop_clean:  # RST: the client sees a reset mid-body
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()  # closed for real once the handler's files are


class ImageServer(_Base):
    handler = _ImageHandler

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate, key) files to serve HTTPS with."""
        super().__init__()
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.url = "https://127.0.0.1:%d" % self.port
        self.resources: dict[str, Resource] = {}
        self.requests: dict[str, int] = {}
        self.heads: dict[str, int] = {}
        self.authorizations: list[str | None] = []  # each request's header, in order
        self.lock = threading.Lock()

    def add(self, name: str, **kwargs) -> str:
        """Serve ``Resource(**kwargs)`` at ``/name``; returns its URL."""
        self.resources["/" + name] = Resource(**kwargs)
        return "%s/%s" % (self.url, name)

    def count(self, name: str) -> int:
        with self.lock:
            return self.requests.get("/" + name, 0)


class _ConductorHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: "FakeConductor"

    def log_message(self, *args) -> None:
        pass

    def _headers(self) -> dict:
        return {k.lower(): v for k, v in self.headers.items()}

    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _garbled(self) -> bool:
        """Answered not HTTP (``garble``): a proxy's or another service's bytes."""
        path = parse.urlparse(self.path).path
        with self.owner.lock:
            prefix = next((p for p, n in self.owner.garble.items()
                           if n and path.startswith(p)), None)
            if prefix is None:
                return False
            self.owner.garble[prefix] -= 1
            self.owner.garbled.append(path)
        self.close_connection = True
        self.wfile.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        return True

    def do_GET(self) -> None:
        url = parse.urlparse(self.path)
        if self._garbled():
            return
        if url.path == "/":
            version = {"id": "v1", "version": self.owner.api_version, "min_version": "1.1",
                       "status": "CURRENT", "links": []}
            return self._json(200, {"name": "fake conductor", "versions": [version],
                                    "default_version": version})
        if url.path == "/v1/lookup":
            query = parse.parse_qs(url.query)
            macs = query.get("addresses", [""])[0].split(",")
            with self.owner.lock:
                self.owner.lookups.append({"addresses": macs, "headers": self._headers(),
                                           "node_uuid": query.get("node_uuid", [None])[0]})
                node = next((n for mac, n in self.owner.nodes.items() if mac in macs), None)
                if node is None:
                    return self._json(404, {"error_message": json.dumps(
                        {"faultstring": "Node with addresses %s was not found." % macs})})
                token = node["token"] if not node["token_given"] else "******"
                node["token_given"] = True
            return self._json(200, {
                "node": {"uuid": node["uuid"], "properties": node["properties"],
                         "instance_info": node["instance_info"]},
                "config": {"heartbeat_timeout": self.owner.heartbeat_timeout,
                           "agent_token": token}})
        self._json(404, {"error_message": "no such path"})

    def do_POST(self) -> None:
        url = parse.urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        if self._garbled():
            return
        if url.path.startswith("/v1/heartbeat/"):
            with self.owner.lock:
                self.owner.heartbeats.append({"node": url.path.rsplit("/", 1)[1],
                                              "body": body, "headers": self._headers(),
                                              "at": time.monotonic()})
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._json(404, {"error_message": "no such path"})


class FakeConductor(_Base):
    """Lookup and heartbeat as Ironic answers them; ``add_node`` makes a MAC known."""

    handler = _ConductorHandler

    def __init__(self, heartbeat_timeout: int = 300, api_version: str = "1.87") -> None:
        super().__init__()
        self.heartbeat_timeout = heartbeat_timeout
        self.api_version = api_version
        self.nodes: dict[str, dict] = {}
        self.lookups: list[dict] = []
        self.heartbeats: list[dict] = []
        #: path prefix -> how many more requests get a non-HTTP answer
        self.garble: dict[str, int] = {}
        self.garbled: list[str] = []  # paths answered so
        self.lock = threading.Lock()

    def add_node(self, mac: str, uuid: str, token: str, properties: dict | None = None,
                 instance_info: dict | None = None) -> None:
        with self.lock:
            self.nodes[mac] = {"uuid": uuid, "token": token, "token_given": False,
                               "properties": properties or {},
                               "instance_info": instance_info or {}}

    def heartbeats_of(self, uuid: str) -> list[dict]:
        with self.lock:
            return [h for h in self.heartbeats if h["node"] == uuid]
