"""nginx in front of several Streamlit processes: the config, and nginx run unprivileged in the foreground.

Streamlit keeps a session in the memory of the process that holds its websocket, so a browser must stay on one
process. Visitors of a class or an office often share one public address, so the proxy cannot hash the client's
address (ip_hash would put them all on one process): it sets a route cookie on a browser's first response, with
a fresh random value ($request_id), and hashes that value. The first request is hashed by the same value the
cookie gets, so the page, its scripts and its websocket all land on the same process.

Used by deploy/run_local.py (processes on this machine), deploy/proxy.py (the Compose file's proxy) and the
browser test through the proxy (tests/browser/test_proxy.py).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROUTE_COOKIE = "lxroute"
# Off by default: a public proxy need not tell visitors the addresses of its replicas. Tests and the local script
# turn it on to see which process answered.
UPSTREAM_HEADER = "X-Upstream"
DEBIAN_NGINX = "/usr/sbin/nginx"
# Above Streamlit's own upload cap (server.maxUploadSize = 64 MB, plus the form's framing), so that an oversized
# checkpoint gets the app's message rather than nginx's bare 413.
MAX_BODY = "80m"
# Streamlit's static bundles leave the server uncompressed; these are the types among them that compress well (its
# woff2 fonts and images are compressed already).
GZIP_TYPES = ("text/css", "text/javascript", "application/javascript", "application/json", "image/svg+xml",
              "text/plain", "application/wasm", "font/ttf", "application/vnd.ms-fontobject")
START_S = 30


def nginx_binary() -> str | None:
    """nginx on PATH, or Debian's (in /usr/sbin, which a non-root PATH often lacks); None when neither is there."""
    found = shutil.which("nginx")
    if found:
        return found
    return DEBIAN_NGINX if os.access(DEBIAN_NGINX, os.X_OK) else None


def nginx_config(upstreams: Sequence[str], listen: str, access_log: str = "logs/access.log",
                 report_upstream: bool = False) -> str:
    """The whole nginx.conf for app processes at `upstreams` ("host:port" each), listening on `listen`.

    Every path is relative to nginx's prefix (`nginx -p PREFIX`), so it runs without root and writes nothing
    outside that folder; `daemon off` keeps it in the foreground for whoever supervises it.
    """
    if not upstreams:
        raise ValueError("the proxy needs at least one app process")
    servers = "\n".join(f"        server {address} max_fails=1 fail_timeout=5s;" for address in upstreams)
    upstream_header = f"        add_header {UPSTREAM_HEADER} $upstream_addr always;\n" if report_upstream else ""
    return f"""\
# Written by devtools/proxy.py (python -m deploy.proxy): nginx in front of {len(upstreams)} app process(es).
daemon off;
worker_processes auto;
# Room for worker_connections (the usual soft limit is 1024; an unprivileged nginx may still raise it to the hard one).
worker_rlimit_nofile 8192;
pid nginx.pid;
error_log stderr notice;

events {{
    # Each visitor holds a websocket, and each of those an upstream connection.
    worker_connections 4096;
}}

http {{
    # The compiled-in temp folders are under /var/lib/nginx, which only root may write. They stay empty: started
    # as root, nginx's workers run as nobody and might not reach a private prefix, so nothing is buffered to disk
    # (responses and uploads stream through; Streamlit's server is asynchronous and does not mind a slow reader).
    proxy_max_temp_file_size 0;
    proxy_request_buffering off;
    client_body_temp_path temp/client_body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;

    log_format routed '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                      'upstream=$upstream_addr route=$route_key seconds=$request_time';
    access_log {access_log} routed;

    # Sticky sessions without ip_hash: a browser without the route cookie gets one, whose value ($request_id,
    # random) is also the key this first request is hashed by.
    map $cookie_{ROUTE_COOKIE} $route_key {{
        ""      $request_id;
        default $cookie_{ROUTE_COOKIE};
    }}
    map $cookie_{ROUTE_COOKIE} $route_cookie_to_set {{
        ""      "{ROUTE_COOKIE}=$request_id; Path=/; HttpOnly; SameSite=Lax";
        default "";
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ""      "";
    }}

    upstream latent_explorer {{
        # Consistent: adding or losing a process moves only the browsers that were on it.
        hash $route_key consistent;
{servers}
        keepalive 32;
    }}

    gzip on;
    gzip_comp_level 5;
    gzip_min_length 1024;
    gzip_proxied any;
    gzip_vary on;
    gzip_types {" ".join(GZIP_TYPES)};

    server {{
        listen {listen};
        client_max_body_size {MAX_BODY};

        proxy_http_version 1.1;
        # The browser's own host and port: Streamlit builds shared links from it and checks websocket origins.
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Upgrade $http_upgrade;
        # Empty for plain requests, which lets them reuse the keepalive connections.
        proxy_set_header Connection $connection_upgrade;

        # An empty value sends no header: only responses to a browser without the cookie set it.
        add_header Set-Cookie $route_cookie_to_set always;
{upstream_header}
        location / {{
            proxy_pass http://latent_explorer;
        }}

        # The session's websocket: open as long as the visitor keeps the tab.
        location /_stcore/stream {{
            proxy_pass http://latent_explorer;
            proxy_read_timeout 1d;
            proxy_send_timeout 1d;
            proxy_buffering off;
        }}

        location = /_stcore/health {{
            proxy_pass http://latent_explorer;
            proxy_read_timeout 5s;
        }}
    }}
}}
"""


def die_with_parent() -> None:
    """For Popen's preexec_fn: the child gets SIGTERM when the process that started it dies, even by SIGKILL,
    so no app process or nginx outlives a crashed supervisor (Linux only; elsewhere nothing)."""
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def wait_for_health(url: str, process: subprocess.Popen, timeout_s: float, what: str) -> None:
    """Until `url` + /_stcore/health answers ok; an error as soon as `process` has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url}/_stcore/health within {timeout_s:.0f} s")


class NginxProxy:
    """nginx on 127.0.0.1:`port` in front of `upstreams`, its config, pid, temp files and logs under `prefix`."""

    def __init__(self, upstreams: Sequence[str], port: int, prefix: Path | None = None,
                 report_upstream: bool = False, host: str = "127.0.0.1"):
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError(f"nginx is not installed (Debian: apt-get install nginx, giving {DEBIAN_NGINX})")
        self.binary = binary
        self.upstreams = list(upstreams)
        self.host = host
        self.port = port
        self.own_prefix = prefix is None
        self.prefix = Path(prefix or tempfile.mkdtemp(prefix="latent-explorer-nginx-"))
        self.report_upstream = report_upstream
        self.config_path = self.prefix / "nginx.conf"
        self.error_log_path = self.prefix / "logs" / "error.log"
        self.access_log_path = self.prefix / "logs" / "access.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_config(self) -> Path:
        for folder in ("logs", "temp"):
            (self.prefix / folder).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(nginx_config(self.upstreams, f"{self.host}:{self.port}",
                                                 report_upstream=self.report_upstream), encoding="utf-8")
        return self.config_path

    def command(self, *extra: str) -> list[str]:
        # -e: errors before the config is read go to stderr too, not to a root-owned default log.
        return [self.binary, "-p", str(self.prefix), "-c", str(self.config_path), "-e", "stderr", *extra]

    def start(self, timeout_s: float = START_S) -> NginxProxy:
        self.write_config()
        checked = subprocess.run(self.command("-t", "-q"), capture_output=True, text=True)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx refused {self.config_path}:\n{checked.stderr}")
        self._error_log = open(self.error_log_path, "a", encoding="utf-8")
        self.process = subprocess.Popen(self.command(), stdout=self._error_log, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=die_with_parent)
        try:
            wait_for_health(self.url, self.process, timeout_s, "nginx")
        except RuntimeError as err:  # its port taken, say: nginx's own words say so
            self._error_log.flush()
            raise RuntimeError(f"{err}; {self.error_log_path} ends:\n"
                               f"{self.error_log_path.read_text(encoding='utf-8', errors='replace')[-2000:]}") from err
        return self

    def upstream_of(self, route: str | None, path: str = "/_stcore/health") -> str:
        """Which app process ("host:port") nginx sends a browser with this route cookie (None: without one)."""
        if not self.report_upstream:
            raise RuntimeError("start the proxy with report_upstream=True to see where it sends requests")
        request = urllib.request.Request(self.url + path)
        if route is not None:
            request.add_header("Cookie", f"{ROUTE_COOKIE}={route}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers[UPSTREAM_HEADER]

    def route_to(self, upstream: str, tries: int = 200) -> str:
        """A route cookie value that nginx sends to `upstream` (found by asking it: the hash is nginx's own)."""
        for _ in range(tries):
            route = secrets.token_hex(16)
            if self.upstream_of(route) == upstream:
                return route
        raise RuntimeError(f"no route cookie among {tries} tried lands on {upstream}; is it one of {self.upstreams}?")

    def access_log(self) -> str:
        return self.access_log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM is nginx's fast stop: its graceful one (SIGQUIT) would wait for every open websocket.
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "_error_log", None) is not None:
            self._error_log.close()
        if self.own_prefix:
            shutil.rmtree(self.prefix, ignore_errors=True)
