"""What every emulator does with its server process, and free loopback ports.

:class:`Unavailable` is how an emulator says it cannot run here (its
program is not installed, the tests do not run as root): it is
:class:`unittest.SkipTest`, so pytest, testtools and unittest all report a
skip with the reason instead of an error.
"""

import os
import signal
import socket
import subprocess
import time
import unittest

import fixtures

__all__ = ["Unavailable", "Fixture", "stop_group", "wait_for_log", "free_tcp_port",
           "free_udp_port"]


class Unavailable(unittest.SkipTest):
    """An emulator cannot run on this machine; the text says what to install."""


class Fixture(fixtures.Fixture):
    """A :class:`fixtures.Fixture` whose set-up failure is the error itself.

    The fixtures library wraps an error raised while setting up in
    ``MultipleExceptions``; unwrapped (after the cleanups ran), an
    :class:`Unavailable` stays a skip under pytest and unittest, and any
    other error reads as what it is. testtools' ``useFixture`` takes both.
    """

    def setUp(self):
        try:
            super().setUp()
        except fixtures.MultipleExceptions as wrapped:
            error = wrapped.args[0][1]
            raise error.with_traceback(wrapped.args[0][2]) from None


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nothing is bound to now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    """Stop a process started with ``start_new_session=True``, and all it started.

    SIGTERM to the whole group first so the emulator can clean up, SIGKILL
    after ``grace`` seconds; an emulator's children (snmpsim workers, sshd
    sessions) must not outlive the test run.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=grace)


def wait_for_log(process, read_log, marker, what, timeout, interval=0.05):
    """Wait until ``read_log()`` contains ``marker`` (the emulator is serving).

    If the process exits or ``timeout`` passes first, stop it and raise
    RuntimeError with the log's tail, so a broken emulator says why instead
    of failing every test that uses it with a connection error.
    """
    deadline = time.monotonic() + timeout
    while marker not in read_log():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_group(process)
            raise RuntimeError("%s did not start:\n%s" % (what, read_log()[-3000:]))
        time.sleep(interval)
