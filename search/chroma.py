"""Chroma's own server, started without Chroma's Python client: `python -m search.chroma run ...`.

The chromadb package's `chroma` command imports the whole client (1.6 s of CPU and 71 MiB here)
only to hand its arguments to the Rust server in `chromadb_rust_bindings`; this hands them over
directly, so the index answers sooner at start and holds less (issue 17). Same server, same arguments.
"""

from __future__ import annotations

import sys

import chromadb_rust_bindings


def main() -> None:
    try:
        chromadb_rust_bindings.cli(["chroma", *sys.argv[1:]])
    except KeyboardInterrupt:  # Ctrl-C in a terminal: a stop, as the `chroma` command treats it
        pass


if __name__ == "__main__":
    main()
