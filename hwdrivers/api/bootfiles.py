"""``GET /boot/<path>``: the boot files machines fetch (iPXE scripts, ISOs, kernels).

Served from ``[deploy] http_root`` by the service itself, so a deployment
needs no second web server: dnsmasq points iPXE at ``<http_url>/boot.ipxe``
and everything after that comes from here. The files hold no secrets (the
agent token is handed out at lookup, never written into a boot file), and
firmware fetching them has no credentials, so the auth middleware lets
GET and HEAD under ``/boot/`` through (api/auth.py). An operator who
prefers nginx or Apache points it at ``http_root`` and sets ``[deploy]
http_url`` to it; nothing else changes. Only regular files under
``http_root`` are served (no listings, no ``..``).
"""

import flask

from hwdrivers.drivers.modules import boot_files
from hwdrivers.drivers.modules import ipxe

blueprint = flask.Blueprint("bootfiles", __name__)

PREFIX = "/boot/"


@blueprint.route("/boot/<path:name>", methods=["GET", "HEAD"])
def boot_file(name):
    if name == "boot.ipxe":  # the same for every machine: ready before any deploy
        ipxe.write_boot_script()
    return flask.send_from_directory(boot_files.http_root(), name, max_age=0,
                                     mimetype="application/octet-stream")
