"""The REST API: an Ironic v1-compatible subset served by hwdrivers-server.

``create_app(service)`` (in :mod:`hwdrivers.api.app`) builds the Flask app;
one module per resource registers its routes on a blueprint.
"""
