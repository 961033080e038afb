"""Interface implementations, one module per technology."""
