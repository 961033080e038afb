"""How fast the agent retries a failing API, and settings that made it spin or wait.

After a failed heartbeat the next comes 1-2 x ``min_heartbeat_interval``
later, as in IPA: never sooner than the least interval between two
heartbeats (it came after 0.5-1 x, twice as often as documented).

``--lookup-interval 0`` looked the node up in a tight loop (0 doubled stays
0), ``--min-heartbeat-interval 0`` heartbeat the same way after an error,
and ``--download-retries -1`` ran no download and failed with a bare
KeyError. Refused at start (exit 2, as any bad argument), naming the flag
or kernel argument.
"""

import threading
import time

import pytest

from hwdrivers.agent import agent as agent_mod
from hwdrivers.agent import cmd
from hwdrivers.agent import errors

BASE = ["--api-url", "http://127.0.0.1:9", "--mac", "52:54:00:00:00:01"]


@pytest.mark.parametrize("argv, message", [
    (["--lookup-interval", "0"], "--lookup-interval / ipa-lookup-interval must be more "
                                 "than 0, got 0.0"),
    (["--min-heartbeat-interval", "0"], "--min-heartbeat-interval must be more than 0"),
    (["--download-retries", "-1"], "--download-retries / "
                                   "ipa-image-download-connection-retries must be at least 0"),
    (["--download-timeout", "-5"], "--download-timeout"),
    (["--kernel-cmdline", "ipa-http-request-timeout=0"], "ipa-http-request-timeout must be "
                                                         "more than 0"),
], ids=["lookup-interval", "heartbeat-interval", "retries", "download-timeout",
        "http-timeout"])
def test_a_setting_out_of_bounds_is_refused_naming_it(argv, message):
    """make_config's ValueError is what main prints before exiting 2."""
    with pytest.raises(ValueError) as raised:
        cmd.make_config(cmd.build_parser().parse_args(BASE + argv))
    assert message in str(raised.value)


def test_zero_retries_and_no_lookup_wait_are_allowed():
    conf = cmd.make_config(cmd.build_parser().parse_args(
        BASE + ["--download-retries", "0", "--download-retry-interval", "0",
                "--lookup-timeout", "0"]))
    assert (conf.download_retries, conf.lookup_timeout) == (0, 0)


class _DownAPI:
    """An API client whose heartbeats all fail; stops the agent after ``calls``."""

    def __init__(self, agent, calls):
        self.agent, self.calls, self.at = agent, calls, []

    def heartbeat(self, *_args):
        self.at.append(time.monotonic())
        if len(self.at) == self.calls:
            self.agent.stop()
        raise errors.HeartbeatError("Error 503: down for maintenance")


def test_a_failed_heartbeat_is_retried_no_sooner_than_the_least_interval():
    conf = cmd.make_config(cmd.build_parser().parse_args(
        BASE + ["--min-heartbeat-interval", "0.2"]))
    agent = agent_mod.Agent(conf)
    agent.node = {"uuid": "node-1"}
    agent.client = _DownAPI(agent, calls=4)
    beat = threading.Thread(target=agent.heartbeat_loop, daemon=True)
    beat.start()
    beat.join(timeout=30)
    assert not beat.is_alive()
    gaps = [later - earlier for earlier, later in zip(agent.client.at, agent.client.at[1:])]
    assert len(gaps) == 3 and min(gaps) >= 0.2, gaps  # a lower bound: sleeps never end early


@pytest.mark.parametrize("argv", [
    ["--api-url", "10.0.0.1:6385", "--mac", "52:54:00:00:00:01"],
    BASE + ["--inspection-callback-url", "10.0.0.1:5050/v1/continue"],
    ["--kernel-cmdline", "ipa-api-url=http://a:6385,b:6385 BOOTIF=01-52-54-00-00-00-01"],
], ids=["api-url", "callback-url", "second-api-url"])
def test_an_api_url_without_its_scheme_is_refused_at_start(argv):
    """Retried as a connection error, lookup gave up only after lookup_timeout (600 s)."""
    with pytest.raises(ValueError, match="is not an http.s. URL .*write it as http://"):
        cmd.make_config(cmd.build_parser().parse_args(argv))
