"""Responses shaped for clients that cannot take a standard header.

python-ironicclient (``baremetal``, and every program using its library,
through 6.x) passes a ``Retry-After`` header to its exception classes,
and all of them but the 413's refuse the argument: a 409 for a locked
node or a 503 with the header ended the command with ``TypeError:
HttpError.__init__() got an unexpected keyword argument 'retry_after'``
instead of the message, and skipped the client's own retries of 409 and
503. Ironic never sends the header, so the client never met it.

``Retry-After`` stays for every other client (openstacksdk, curl, our
CLI): it tells them how long waiting helps. For the clients named in
:data:`DROPPED_HEADERS` -- recognised by the ``User-Agent`` their
library sends -- those headers are left out; their own retry schedule
applies, as it does against Ironic.
"""

#: User-Agent prefix -> response headers (lower case) that client cannot take.
DROPPED_HEADERS = {
    "python-ironicclient": frozenset({"retry-after"}),
}
_PREFIXES = tuple(DROPPED_HEADERS)


class ClientQuirks:
    """WSGI middleware: drops :data:`DROPPED_HEADERS` for the clients named there.

    Outermost, so it sees every response, authentication's 429 included.
    A request from any other client costs one header lookup.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        agent = environ.get("HTTP_USER_AGENT")
        if not agent or not agent.startswith(_PREFIXES):
            return self.app(environ, start_response)
        dropped = next(names for prefix, names in DROPPED_HEADERS.items()
                       if agent.startswith(prefix))

        def start(status, headers, exc_info=None):
            kept = [(name, value) for name, value in headers
                    if name.lower() not in dropped]
            return start_response(status, kept, exc_info)

        return self.app(environ, start)
