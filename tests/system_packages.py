"""Debian packages the tests need: `python -m tests.system_packages` installs the missing ones (as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# (binary or file, Debian package): add a pair when a test needs another program.
PACKAGES: list[tuple[str, str]] = [
    ("nginx", "nginx"),
    ("shellcheck", "shellcheck"),
    ("chromium", "chromium"),
    # tests/test_ui_accessibility.py installs axe-core from the npm registry with it.
    ("npm", "npm"),
    # Installed without recommends, chromium brings no fonts: screenshots would show empty boxes.
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    # The multi-host test: network namespaces for each host, stunnel for TLS to the shared Redis and S3.
    ("ip", "iproute2"),
    ("stunnel", "stunnel4"),
]

# Debian keeps daemons such as nginx in sbin, which a normal user's PATH leaves out.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


def find(binary: str) -> str | None:
    """Where a program (or, given a path, a file) is, looking in sbin as well."""
    if os.path.isabs(binary):
        return binary if os.path.exists(binary) else None
    return shutil.which(binary, path=SEARCH_PATH)


def missing() -> list[str]:
    return sorted({package for binary, package in PACKAGES if find(binary) is None})


def install(packages: list[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    return subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env
    ).returncode


def main() -> int:
    needed = missing()
    if not needed:
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            f"the tests need these Debian packages: {' '.join(needed)}\n"
            f"install them with: sudo apt-get install -y {' '.join(needed)}",
            file=sys.stderr,
        )
        return 1
    print(f"installing {' '.join(needed)}", file=sys.stderr)
    return install(needed)


if __name__ == "__main__":
    sys.exit(main())
