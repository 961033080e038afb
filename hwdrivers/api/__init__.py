"""The REST API: an Ironic v1-compatible subset served by hwdrivers-server.

``create_app(service)`` (in :mod:`hwdrivers.api.app`) builds the Flask app;
one module per resource registers its routes on a blueprint. The subset is
the part of Ironic's API that python-ironicclient's ``baremetal`` CLI and
openstacksdk's baremetal proxy need to enroll and drive machines:

=====================================================  ==========================
``GET /``, ``GET /v1``                                 version documents (root)
``GET|POST /v1/nodes``, ``GET /v1/nodes/detail``       list (filters, fields,
                                                       limit/marker + next,
                                                       sort), enroll (nodes)
``GET|PATCH|DELETE /v1/nodes/<uuid or name>``          show, JSON patch
                                                       (``?reset_interfaces``
                                                       from 1.45), delete
``GET /v1/nodes/<n>/states``, ``PUT .../states/power``, states (202, async)
``PUT .../states/provision``
``GET|PUT .../management/boot_device[/supported]``     management (PUT is sync)
``GET .../validate``, ``PUT|DELETE .../maintenance``   nodes
``* .../vendor_passthru?method=M`` or ``.../M``,       nodes
``GET .../vendor_passthru/methods``
``/v1/ports[/detail]``, ``/v1/nodes/<n>/ports``        ports
``/v1/drivers[/<name>[/properties]]``                  drivers
``/v1/conductors[/<hostname>]``                        conductors
``GET /metrics``                                       metrics (api-extras)
``GET /v1/lookup``, ``POST /v1/heartbeat/<node>``      ramdisk agents (no user auth;
                                                       the agent token)
``GET /boot/<file>``                                   boot files (bootfiles)
=====================================================  ==========================

Microversions 1.1 to 1.109 are accepted (see :mod:`.microversions`); the
documents are the same at every version (``reset_interfaces`` needs 1.45,
as in Ironic). Known differences from Ironic:
nodes always start in ``enroll`` (Ironic < 1.11 starts them ``available``);
fields Ironic has and hwdrivers does not model (instance_uuid, owner,
traits, ...) are shown empty and cannot be set; provision targets not
served yet (rebuild, rescue ...) answer 400.
Errors use Ironic's shape (:mod:`.errors`); secrets in driver_info are
write-only (``******`` in every response).
"""
