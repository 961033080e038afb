"""The ``hwdrivers`` command line: commands, output, and the backends under them.

Commands talk to a *backend* (:mod:`hwdrivers.cli.local` drives the local
database through the conductor; an HTTP backend drives a server), so the
same commands and output work either way.
"""
