"""The embedded default: the whole platform on one machine, no Docker, no root."""
