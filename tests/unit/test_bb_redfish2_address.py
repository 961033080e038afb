"""redfish_address that the URL parser itself refuses: the message says what was given."""

import pytest

from hwdrivers.drivers.modules import redfish


@pytest.mark.parametrize("text", ["http://[::1", "https://[fe80::1:623/redfish/v1"])
def test_an_unparsable_address_is_shown_with_the_form_expected(text):
    with pytest.raises(ValueError) as info:
        redfish.parse_address(text)
    assert str(info.value).startswith("(got %r) must be http(s)://host[:port]: " % text)


def test_an_unparsable_address_does_not_show_a_password():
    with pytest.raises(ValueError) as info:
        redfish.parse_address("https://root:Bmc-Secret-9@[::1")
    assert "Bmc-Secret-9" not in str(info.value)
