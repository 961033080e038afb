"""Tasks, locks, operations and the service that runs them."""
