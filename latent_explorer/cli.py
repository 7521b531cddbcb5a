"""`latent-explorer`: the app from the installed package, with the settings a checkout keeps in .streamlit/.

    latent-explorer                         # http://localhost:8501, models kept in ~/.cache/latent-explorer/store
    latent-explorer --port 8080 --address 0.0.0.0 --store s3://bucket/latent-explorer --headless
    latent-explorer -- --server.baseUrlPath demo    # anything after -- goes to `streamlit run` as it is

Training from the command line is `latent-explorer-train` (the same CLI as `python -m vae_core`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ENTRY_SCRIPT = PACKAGE / "server_app.py"
# The checkout's .streamlit/config.toml is a link to this file: one set of settings for both ways of starting.
STREAMLIT_SETTINGS = PACKAGE / "streamlit_config.toml"
STORE_VARIABLE = "LATENT_EXPLORER_STORE"


def streamlit_flags(settings_path: Path = STREAMLIT_SETTINGS) -> list[str]:
    """The settings file as `streamlit run` flags (`--server.fileWatcherType=none`, ...): Streamlit reads a
    config.toml only from the working folder and the home folder, which an installed package controls neither."""
    settings = tomllib.loads(settings_path.read_text(encoding="utf-8"))
    flags = []
    for section, options in settings.items():
        for name, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{section}.{name}={text}")
    return flags


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="latent-explorer", description="Start Latent Explorer: train or load an autoencoder and a VAE on "
        "images and explore the VAE's latent space in the browser.", epilog="Arguments after -- are passed to "
        "`streamlit run` unchanged (see `streamlit run --help`). To train from the command line: "
        "latent-explorer-train --help.")
    result.add_argument("--port", type=int, default=8501, help="the port to serve on (default 8501)")
    result.add_argument("--address", default=None,
                        help="the address to listen on (default: every interface; 0.0.0.0 to host it)")
    result.add_argument("--store", default=None,
                        help=f"where trained and uploaded models are kept: a folder or an fsspec URL such as "
                             f"s3://bucket/path (default ${STORE_VARIABLE}, else ~/.cache/latent-explorer/store)")
    result.add_argument("--headless", action="store_true", help="do not open a browser tab")
    return result


def streamlit_arguments(args: argparse.Namespace, passed_on: list[str]) -> list[str]:
    """The `streamlit run` command line for these options; flags passed on come last and win."""
    command = ["run", str(ENTRY_SCRIPT), *streamlit_flags(), f"--server.port={args.port}"]
    if args.address is not None:
        command.append(f"--server.address={args.address}")
    if args.headless:
        command.append("--server.headless=true")
    return command + passed_on


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_on = argv[argv.index("--") + 1:] if "--" in argv else []
    ours = argv[:argv.index("--")] if "--" in argv else argv
    args = parser().parse_args(ours)
    if args.store is not None:
        os.environ[STORE_VARIABLE] = args.store  # read by latent_explorer.session in the server's process
    # Imported only now: `latent-explorer --help` answers without loading Streamlit.
    from streamlit.web import cli as streamlit_cli

    streamlit_cli.main(args=streamlit_arguments(args, passed_on), prog_name="latent-explorer")


if __name__ == "__main__":
    main()
