"""[console] public_address: the host of console URLs (error paths; the real server
is tests/functional/test_bb_console_public_address.py)."""

import pytest

from hwdrivers.common import exception
from hwdrivers.conductor import console_manager


def test_wildcard_host_without_a_default_route_stops_start_up(config, monkeypatch):
    config(console__host="0.0.0.0")
    monkeypatch.setattr(console_manager, "_primary_address", lambda family: None)
    manager = console_manager.ConsoleManager()
    with pytest.raises(exception.ConfigInvalid) as error:
        manager.start()
    assert error.value.option == "[console] public_address"
    assert "set [console] public_address" in str(error.value)
    assert not manager.started


def test_public_address_wins_and_ipv6_is_bracketed(config):
    config(console__public_address="2001:db8::7")
    manager = console_manager.ConsoleManager()
    manager.check_config()
    assert manager._url_host() == "[2001:db8::7]"


def test_specific_host_is_the_default(config):
    config(console__host="127.0.0.1", host="conductor-name-not-an-address")
    manager = console_manager.ConsoleManager()
    manager.check_config()
    assert manager._url_host() == "127.0.0.1"
