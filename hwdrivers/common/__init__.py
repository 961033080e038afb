"""Leaf helpers shared by every layer. Nothing here imports the rest of hwdrivers."""
