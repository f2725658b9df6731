"""nginx as a test peer: the program, its version, and a config around given servers.

Each test module writes only its ``server { ... }`` blocks (and http-level lines); the rest
(one worker, temp paths inside the test's folder, ``user root`` when the tests run as root:
the workers could not read the 0700 temp folder otherwise, the command line) is here.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from conftest import need

__all__ = ["nginx_argv", "nginx_program", "nginx_version", "write_nginx_conf"]


def nginx_program() -> str:
    """Debian's /usr/sbin/nginx (not on a user's PATH), else nginx from PATH (or a skip)."""
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else need("nginx")


def nginx_version(program: str) -> tuple[int, ...]:
    out = subprocess.run([program, "-v"], capture_output=True, text=True, timeout=10)
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    return tuple(int(x) for x in found.groups()) if found else (0, 0, 0)


def write_nginx_conf(root: Path, http: str, *, connections: int = 512) -> Path:
    """``root/nginx.conf`` with ``http`` (servers and http-level lines) inside ``http {}``."""
    user = "user root;" if os.geteuid() == 0 else ""
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
{user}
worker_processes 1;
events {{ worker_connections {connections}; }}
http {{
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{http}
}}
"""
    )
    return conf


def nginx_argv(program: str, root: Path, conf: Path) -> list[str]:
    """nginx in the foreground, its pid file and prefix in ``root``, errors on stderr."""
    return [
        program,
        "-p",
        str(root),
        "-c",
        str(conf),
        "-g",
        f"daemon off; pid {root}/nginx.pid; error_log stderr;",
    ]
