"""Domain objects over database rows: what the conductor and API pass around.

Drivers see these only as ``task.node`` attributes and never import them.
"""
