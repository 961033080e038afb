"""An http image URL that redirects to https: the TLS settings still apply.

Object stores and mirrors send ``http://`` clients to ``https://``. The
agent built its TLS context (``--ca-file``, ``--insecure``) only when the
first URL was https, so after such a redirect urllib verified the server
against the system store alone: a private CA given with ``--ca-file``
failed CERTIFICATE_VERIFY_FAILED, and ``--insecure`` was ignored.
"""

import pytest

from tests.agent import servers
from tests.agent.helpers import image_info, read
from tests.fixtures import redfish_emulator


@pytest.mark.parametrize("flags", ["ca-file", "insecure"])
def test_the_tls_settings_follow_a_redirect_to_https(flags, start_agent, image_server,
                                                     raw_image, tmp_path):
    cert, key = redfish_emulator._write_certificate(str(tmp_path))
    path, data = raw_image
    with servers.ImageServer(tls=(cert, key)) as https:
        target = https.add("image.raw", path=str(path))
        url = image_server.add("image.raw", redirect=target)
        extra = ["--ca-file", cert] if flags == "ca-file" else ["--insecure"]
        agent = start_agent(extra=extra)
        doc = agent.run("standby.prepare_image", {"image_info": image_info(url, data)})
        assert doc["command_status"] == "SUCCEEDED", doc
        assert https.count("image.raw") == 1
        assert read(agent.disk, 0, len(data)) == data
