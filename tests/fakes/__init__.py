"""Stand-ins for services that cannot run here (only the Vast.ai API)."""
