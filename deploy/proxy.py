"""nginx in front of Latent Explorer's app processes: writes the config (devtools/proxy.py) and runs nginx on it.

    python -m deploy.proxy --upstream app1:8501 --upstream app2:8501 --listen 0.0.0.0:8080 --prefix /tmp/nginx
    python -m deploy.proxy --upstream 127.0.0.1:8501 --listen 127.0.0.1:8080 --print    # the config only

nginx runs in the foreground in place of this script (the Compose file's proxy service), as whatever user starts
it: its pid, temp folders and logs are under --prefix.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devtools.proxy import nginx_binary, nginx_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", action="append", required=True, metavar="HOST:PORT",
                        help="an app process (repeat for each)")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="nginx's address (default 127.0.0.1:8080)")
    parser.add_argument("--prefix", type=Path, default=Path("/tmp/latent-explorer-nginx"),
                        help="folder for the config, pid, temp files and logs (default /tmp/latent-explorer-nginx)")
    parser.add_argument("--access-log", default="logs/access.log",
                        help="file for the access log, relative to --prefix (default logs/access.log)")
    parser.add_argument("--report-upstream", action="store_true",
                        help="add an X-Upstream header saying which process answered (for checking stickiness)")
    parser.add_argument("--print", action="store_true", help="print the config and exit")
    args = parser.parse_args(argv)

    config = nginx_config(args.upstream, args.listen, access_log=args.access_log,
                          report_upstream=args.report_upstream)
    if args.print:
        sys.stdout.write(config)
        return 0
    binary = nginx_binary()
    if binary is None:
        parser.error("nginx is not installed (Debian: apt-get install nginx)")
    for folder in ("logs", "temp"):
        (args.prefix / folder).mkdir(parents=True, exist_ok=True)
    config_path = args.prefix / "nginx.conf"
    config_path.write_text(config, encoding="utf-8")
    sys.stdout.flush()
    # nginx takes this process's place, so a container's stop signal reaches it directly.
    os.execv(binary, [binary, "-p", str(args.prefix), "-c", str(config_path), "-e", "stderr"])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
