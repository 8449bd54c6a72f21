"""Code shared by every function; faas-cli copies it into each build (configuration.copy)."""
