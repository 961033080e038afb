"""A redfish_username with ':' is refused with basic auth, naming the way that works.

HTTP basic auth sends ``user:password``; the BMC splits at the first ':'
(RFC 7617), so ``dom:admin`` logs in as ``dom``: every call failed as a
wrong user or password, about credentials that are right. Sessions carry
the name as JSON and take it.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import redfish


def _parse(**info):
    return redfish.COMMON_SCHEMA.parse(dict(
        {"redfish_address": "https://10.0.0.9", "redfish_password": "pw"}, **info), node="n1")


def test_basic_auth_refuses_a_user_name_with_a_colon():
    with pytest.raises(exception.InvalidParameterValue) as info:
        _parse(redfish_username="dom:admin", redfish_auth_type="basic")
    assert "redfish_username contains ':'" in str(info.value)
    assert "redfish_auth_type to session" in str(info.value)


@pytest.mark.parametrize("auth_type", ["session", "auto"])
def test_sessions_take_it(auth_type):
    assert _parse(redfish_username="dom:admin",
                  redfish_auth_type=auth_type)["redfish_username"] == "dom:admin"
