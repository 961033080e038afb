"""Driver interfaces, hardware types and their loading.

Nothing under ``drivers`` imports ``conductor``, ``api`` or ``db``: a driver
sees a task (``task.node``, its ``driver_info``, ``task.logger``) and nothing
else, so it runs the same in the service, a one-shot CLI, or behind the
external-driver protocol.
"""
