"""Who asked for an operation, carried from the API or CLI to the conductor."""

import random
import uuid


def new_request_id():
    """``req-`` and a version-4 UUID, as oslo.context makes them.

    The bits come from :mod:`random` (seeded from the OS, and again in a
    forked child), not from ``uuid4``'s ``os.urandom``: a request id ties
    log lines together and is shown to the caller, so it must be unique,
    never secret; and a system call per request lets go of the GIL, which
    under load costs a thread switch.
    """
    return "req-%s" % uuid.UUID(int=random.getrandbits(128), version=4)


class RequestContext:
    """The caller: user, roles, and a request id that ties log lines together."""

    def __init__(self, user=None, roles=(), request_id=None, read_only=False,
                 lock_wait=None):
        self.user = user
        self.roles = tuple(roles)
        self.request_id = request_id or new_request_id()
        self.read_only = read_only
        #: Seconds to wait for a node another task holds (None: [conductor]
        #: node_locked_retry_timeout); API requests set [api] node_locked_wait.
        self.lock_wait = lock_wait

    def __repr__(self):
        return "<context %s user=%s>" % (self.request_id, self.user)


def get_admin_context():
    """The context of the service itself (periodic tasks, the local CLI)."""
    return RequestContext(user="hwdrivers", roles=("admin",))
