"""Test tools that ship with hwdrivers: peers and machines to test drivers against.

:mod:`.simulator` is a machine that really boots: network boot follows the
iPXE chain from the service and starts ``hwdrivers-agent`` on a disk image
file; :mod:`.sim_driver` drives it as the ``sim`` hardware type.
"""
