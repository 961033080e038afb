"""hwdrivers-agent: the ramdisk side of provisioning.

It runs on the machine being deployed, finds its node through the
conductor's lookup API, heartbeats, and serves ironic-python-agent's command
API (``standby.prepare_image`` and friends) so a conductor can have it write
an image to the local disk. It imports nothing else of ``hwdrivers``: the
ramdisk carries this package and the standard library, not the service.
See doc/agent.md for the wire protocol.
"""

__version__ = "0.1.0"
