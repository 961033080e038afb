"""Power small boards through a relay on a Linux GPIO line."""
