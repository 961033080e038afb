"""HTTP(S) downloads for the agent: images, checksum files, config drives.

One place decides what a failed request means: a connection error, a
timeout or a 5xx may succeed on the next attempt; a 4xx will not. URLs are
logged and reported without their query string, where temporary-URL
signatures live.
"""

import base64
import dataclasses
import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib import parse

from hwdrivers.agent import errors

#: HTTP statuses worth another attempt (besides connection errors and 5xx)
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclasses.dataclass(frozen=True)
class HTTPOptions:
    timeout: float = 60.0          # seconds for connect and for each read
    insecure: bool = False         # skip TLS verification (ipa-insecure=1)
    ca_file: str | None = None     # CA bundle for https (instead of the system's, as IPA)
    #: scheme -> proxy URL (image_info "proxies", as Ironic sends it), over the environment's
    proxies: dict = dataclasses.field(default_factory=dict)
    no_proxy: str | None = None    # hosts reached directly (image_info "no_proxy")


def redact(url: str) -> str:
    """``url`` without user:password, query or fragment: safe to log and show.

    The conductor names image URLs with it too (drivers/modules/image_check.py),
    so both sides of a deploy say the same thing about one URL.
    """
    parts = parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host  # an IPv6 address: the port must stay apart from it
    try:
        port = parts.port
    except ValueError:  # a port out of range: the request says so, not the label
        port = None
    netloc = host + (":%d" % port if port else "")
    return parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


#: what stays as written in a path or query (requests' requote_uri set: "%" keeps escapes)
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def _requoted(parts: parse.SplitResult) -> parse.SplitResult:
    """``parts`` with spaces and non-ASCII in the path and query percent-encoded.

    As requests (IPA) sends them: http.client refuses a space in the
    request line and cannot encode ``é``, so an image_source such as
    ``http://images/my disk.raw`` passed the conductor's checks and then
    failed in the agent, after a power cycle and a ramdisk boot.
    """
    return parts._replace(path=parse.quote(parts.path, safe=_URL_SAFE),
                          query=parse.quote(parts.query, safe=_URL_SAFE))


def request_for(url: str, method: str = "GET",
                user_agent: str = "hwdrivers-agent") -> urllib.request.Request:
    """A request for ``url``; ``user:password@`` in it becomes Basic authentication.

    urllib would take that part for the host name. The header is not carried
    over a redirect, so the credentials never reach another server. The
    conductor's look at an image before a deploy (``HEAD``) builds its
    request here too, so it is authenticated exactly as the agent's ``GET``.
    """
    parts = _requoted(parse.urlsplit(url))
    # The bytes must be the file's: its checksum is of them, and they go to the disk.
    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
    netloc = parts.netloc.rpartition("@")[2]
    request = urllib.request.Request(parse.urlunsplit(parts._replace(netloc=netloc)),
                                     headers=headers, method=method)
    if parts.username is None:
        return request
    pair = "%s:%s" % (parse.unquote(parts.username), parse.unquote(parts.password or ""))
    request.add_unredirected_header(
        "Authorization", "Basic " + base64.b64encode(pair.encode()).decode("ascii"))
    return request


def _context(options: HTTPOptions) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.ca_file)
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class HTTPRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Follow a redirect to http(s) only.

    urllib also follows one to ``ftp://``, a scheme the conductor never lets
    an image URL have (and IPA's requests cannot fetch): the server would
    choose what the ramdisk connects to and how.
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not newurl.lower().startswith(("http://", "https://")):
            raise urllib.error.HTTPError(
                req.full_url, code, "redirected to a %s URL, which the agent does not follow"
                % (parse.urlsplit(newurl).scheme or "relative"), headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Proxies(urllib.request.ProxyHandler):
    """The environment's proxies, overridden per scheme by image_info's.

    ``no_proxy`` (image_info's) sends its hosts direct, as IPA does by
    setting the variable; the environment's no_proxy still applies too.
    """

    def __init__(self, options: HTTPOptions) -> None:
        proxies = {scheme: url for scheme, url in urllib.request.getproxies().items()
                   if scheme != "no"}
        super().__init__({**proxies, **options.proxies})
        self.no_proxy = options.no_proxy

    def proxy_open(self, req, proxy, type):
        if self.no_proxy and urllib.request.proxy_bypass_environment(
                req.host, {"no": self.no_proxy}):
            return None
        return super().proxy_open(req, proxy, type)


def _opener(context: ssl.SSLContext, options: HTTPOptions) -> urllib.request.OpenerDirector:
    """urlopen's handlers (proxies from the environment and image_info), with
    http(s)-only redirects and the agent's TLS settings."""
    return urllib.request.build_opener(HTTPRedirectsOnly, _Proxies(options),
                                       urllib.request.HTTPSHandler(context=context))


def open_url(url: str, options: HTTPOptions, what: str) -> http.client.HTTPResponse:
    """GET ``url``; the open response on 2xx, else ImageDownloadError.

    ``what`` names the thing fetched, for the error message.
    """
    try:
        request = request_for(url)
        # for every URL: an http one may redirect to https, where --ca-file and
        # --insecure must hold as well
        response = _opener(_context(options), options).open(request, timeout=options.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        retryable = exc.code >= 500 or exc.code in RETRYABLE_STATUSES
        raise errors.ImageDownloadError(
            what, "GET %s returned HTTP %d %s" % (redact(url), exc.code, exc.reason),
            retryable=retryable)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        # an untrusted certificate will not become trusted on the next attempt
        retryable = not isinstance(reason, ssl.SSLCertVerificationError)
        hint = "; give --ca-file (or --insecure)" if not retryable else ""
        raise errors.ImageDownloadError(
            what, "GET %s failed: %s%s" % (redact(url), reason, hint), retryable=retryable)
    _refuse_encoded(response, url, what)
    return response


def _refuse_encoded(response: http.client.HTTPResponse, url: str, what: str) -> None:
    """A body sent compressed (``Content-Encoding: gzip``) is not the file.

    Asked for ``identity``, a server may still compress (an object store
    keeps the encoding it was uploaded with); hashed and written as sent,
    it failed as a checksum mismatch that did not say why.
    """
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        response.close()
        raise errors.ImageDownloadError(
            what, "GET %s answered with Content-Encoding: %s; the agent needs the file's own "
            "bytes: serve it without compression (for an object store, remove the object's "
            "Content-Encoding metadata)" % (redact(url), encoding[:40]), retryable=False)


def _declared_length(response: http.client.HTTPResponse) -> int | None:
    text = (response.headers.get("Content-Length") or "").strip()
    return int(text) if text.isdigit() else None


def _cut_short(url: str, what: str, got: int, declared: int | None) -> None:
    """A body that ended before its Content-Length was cut in transit: retry it.

    http.client returns what arrived before a clean close without a word;
    a checksum file or config drive cut so failed as "no line for the image"
    or "corrupt gzip", neither of which is retried.
    """
    if declared is not None and got < declared:
        raise errors.ImageDownloadError(
            what, "%s ended after %d of %d bytes" % (redact(url), got, declared))


def fetch_small(url: str, options: HTTPOptions, what: str, limit: int) -> bytes:
    """The whole body of a small document (a config drive), bounded."""
    response = open_url(url, options, what)
    try:
        data = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise errors.ImageDownloadError(what, "reading %s failed: %s" % (redact(url), exc))
    finally:
        response.close()
    if len(data) > limit:
        raise errors.ImageDownloadError(
            what, "%s is larger than %d bytes" % (redact(url), limit), retryable=False)
    _cut_short(url, what, len(data), _declared_length(response))
    return data


def read_lines(url: str, options: HTTPOptions, what: str, limit: int,
               line_limit: int) -> Iterator[str]:
    """The lines of a text document, read as they arrive: memory is one line.

    A distribution mirror's checksum file can list a whole tree (tens of
    thousands of lines); the caller searches it as it streams. ``limit``
    bounds the bytes read (time, not memory); a line over ``line_limit``
    bytes is no checksum line and is skipped unread into memory. The
    response is closed when the caller stops early.
    """
    response = open_url(url, options, what)
    total = 0

    def more(size: int) -> bytes:
        nonlocal total
        try:
            piece = response.readline(size)
        except (OSError, http.client.HTTPException) as exc:
            raise errors.ImageDownloadError(
                what, "reading %s failed: %s" % (redact(url), exc or type(exc).__name__))
        total += len(piece)
        if total > limit:
            raise errors.ImageDownloadError(
                what, "%s is larger than %d MiB; give the image's own digest (os_hash_value) "
                "or a checksum file listing fewer images" % (redact(url), limit >> 20),
                retryable=False)
        return piece

    try:
        while line := more(line_limit + 1):
            if len(line) > line_limit:
                while line and not line.endswith(b"\n"):  # the rest of an over-long line
                    line = more(line_limit)
                continue
            yield line.decode("utf-8", "replace")
        _cut_short(url, what, total, _declared_length(response))
    finally:
        response.close()
