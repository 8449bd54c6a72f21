"""`python -m host`: serves the functions host (see host/server.py)."""

from host.server import main

main()
