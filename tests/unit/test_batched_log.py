"""The serving processes' log handler (hwdrivers.common.batched_log): batched, ordered,
nothing lost."""

import io
import logging
import subprocess
import sys
import threading
import time

from hwdrivers.common import batched_log


class CountingStream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, text):
        self.writes += 1
        return super().write(text)


def _logger(handler, name="batched-test"):
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_lines_from_many_threads_arrive_in_order_in_few_writes():
    stream = CountingStream()
    handler = batched_log.BatchedStreamHandler(stream, interval=0.05)
    handler.setFormatter(logging.Formatter("%(threadName)s %(message)s"))
    log = _logger(handler)

    def work(n):
        for i in range(500):
            log.info("%d", i)

    threads = [threading.Thread(target=work, args=(n,), name="t%d" % n) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4000
    for n in range(8):  # each thread's lines in the order it logged them
        assert [int(line.split()[1]) for line in lines
                if line.startswith("t%d " % n)] == list(range(500))
    assert stream.writes < 400  # batched: far fewer writes than lines


def test_info_waits_for_the_interval_and_warning_is_written_at_once():
    stream = io.StringIO()
    handler = batched_log.BatchedStreamHandler(stream, interval=30)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = _logger(handler)
    try:
        log.info("first")
        time.sleep(0.2)
        assert stream.getvalue() == ""          # queued, not yet written
        log.warning("second")
        deadline = time.monotonic() + 5
        while "second" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stream.getvalue() == "INFO first\nWARNING second\n"
    finally:
        handler.close()


def test_a_stream_that_cannot_keep_up_slows_the_loggers_instead_of_growing():
    stream = io.StringIO()
    handler = batched_log.BatchedStreamHandler(stream, interval=30, max_pending=10)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = _logger(handler)
    try:
        for i in range(25):
            log.info("line %d", i)
        assert stream.getvalue().count("\n") == 20  # written by the loggers themselves
        assert len(handler._pending) == 5
    finally:
        handler.close()
    assert stream.getvalue().splitlines() == ["line %d" % i for i in range(25)]


def test_a_failing_stream_is_reported_not_raised_into_the_caller(capsys):
    class Broken(io.StringIO):
        def write(self, text):
            raise OSError("disk full")

    handler = batched_log.BatchedStreamHandler(Broken(), interval=30)
    log = _logger(handler)
    log.info("lost")
    handler.flush()                                # no exception
    assert "disk full" in capsys.readouterr().err  # logging's report on stderr
    handler.close()


def test_install_leaves_a_configured_root_logger_alone():
    root = logging.getLogger()
    assert root.handlers  # pytest's
    assert batched_log.install(logging.INFO, "%(message)s", sys.stderr) is None


def test_a_process_writes_everything_before_it_exits_and_before_its_prints():
    code = ("import logging, sys; from hwdrivers.common import batched_log; "
            "batched_log.install(logging.INFO, '%(message)s', sys.stdout); "
            "[logging.getLogger('x').info('line %d', i) for i in range(3)]; "
            "batched_log.flush_all(); print('printed', flush=True); "
            "logging.getLogger('x').info('last')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["line 0", "line 1", "line 2", "printed", "last"]
