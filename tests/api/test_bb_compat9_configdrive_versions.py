"""A config drive given as a JSON object needs API 1.56, as in Ironic.

Ironic's check_allow_configdrive answers 400 below it (an older client
only knows the ISO string or its URL); hwdrivers built the config drive
from the object at any version. (Ironic wants 1.59 for ``vendor_data`` in
it; hwdrivers' CLI sends objects at 1.56, so that key is not gated.)
"""

from hwdrivers.api import microversions
from tests.api.conftest import error_of, row


def _deploy(api, configdrive, version):
    return api.put("/v1/nodes/cdv/states/provision",
                   {"target": "active", "configdrive": configdrive},
                   headers={microversions.HEADER: version})


def test_below_1_56_is_400_and_deploys_nothing(api, make_node):
    make_node("cdv")
    resp = _deploy(api, {"meta_data": {"hostname": "h"}}, "1.55")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "configdrive" in error_of(resp) and "1.56" in error_of(resp)
    assert row("cdv")["provision_state"] == "enroll"


def test_at_its_version_the_object_passes_the_version_check(api, make_node):
    make_node("cdv")
    resp = _deploy(api, {"meta_data": {"hostname": "h"}, "vendor_data": {}}, "1.56")
    assert resp.status_code == 400  # the state refuses it, not the version
    assert "enroll" in error_of(resp) and "1.5" not in error_of(resp)
