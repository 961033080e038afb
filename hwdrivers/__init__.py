"""hwdrivers: drive bare-metal machines through their management hardware."""
