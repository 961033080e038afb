"""Who asked for an operation, carried from the API or CLI to the conductor."""

import uuid


class RequestContext:
    """The caller: user, roles, and a request id that ties log lines together."""

    def __init__(self, user=None, roles=(), request_id=None, read_only=False,
                 lock_wait=None):
        self.user = user
        self.roles = tuple(roles)
        self.request_id = request_id or "req-%s" % uuid.uuid4()
        self.read_only = read_only
        #: Seconds to wait for a node another task holds (None: [conductor]
        #: node_locked_retry_timeout); API requests set [api] node_locked_wait.
        self.lock_wait = lock_wait

    def __repr__(self):
        return "<context %s user=%s>" % (self.request_id, self.user)


def get_admin_context():
    """The context of the service itself (periodic tasks, the local CLI)."""
    return RequestContext(user="hwdrivers", roles=("admin",))
