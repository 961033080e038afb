"""Ironic's own clients against a hwdrivers server, run as an operator runs them.

``baremetal`` is the real CLI in a subprocess, with no ``OS_*`` settings of
the caller's and the server's own ``home`` (ironicclient caches the
negotiated API version there); ``sdk`` is an unmodified openstacksdk
connection with no authentication, as for a standalone Ironic.
"""

import os
import subprocess
import sys

import openstack

BAREMETAL = os.path.join(os.path.dirname(sys.executable), "baremetal")


def baremetal(server, *args, check=True):
    """``baremetal <args>`` against ``server`` (its ``url`` and ``home``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(server.home)
    proc = subprocess.run([BAREMETAL, "--os-endpoint", server.url, "--os-auth-type", "none"]
                          + list(args), env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError("baremetal %s failed (%d):\n%s\n%s" % (
            " ".join(args), proc.returncode, proc.stdout, proc.stderr))
    return proc


def sdk(server):
    return openstack.connect(auth_type="none", baremetal_endpoint_override=server.url)
