"""`make run`: the app on the embedded default plus a local identity provider.

Starts the local OIDC provider on http://127.0.0.1:5001 and the app on
http://127.0.0.1:5000 with data under ./var. Ctrl-C stops both. ``PORT``,
``IDP_PORT`` and ``PICBUCKET_DATA_DIR`` (or --port, --idp-port, --data-dir) change
them; a port already in use is reported in one line.
``--emulated`` runs the Google Cloud adapters against local emulators instead.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
from contextlib import ExitStack
from pathlib import Path

from picbucket.app import create_app
from picbucket.dev.identity_provider import running_provider
from picbucket.settings import Settings


def main() -> None:
    """Run the development server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--idp-port", type=int, default=int(os.environ.get("IDP_PORT", "5001")))
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("PICBUCKET_DATA_DIR", "var"))
    )
    parser.add_argument("--emulated", action="store_true", help="use GCS + Firestore emulators")
    args = parser.parse_args()
    for port, variable in ((args.port, "PORT"), (args.idp_port, "IDP_PORT")):
        if (problem := port_problem(port)) is not None:
            sys.exit(f"Cannot use port {port}: {problem}. Choose another: {variable}=8080 make run")
    # Treat SIGTERM like Ctrl-C, so the emulators and the provider are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    with ExitStack() as stack:
        issuer = stack.enter_context(running_provider(port=args.idp_port))
        overrides: dict[str, object] = {}
        if args.emulated:
            from picbucket.dev.emulators import running_emulators

            overrides = stack.enter_context(running_emulators(args.data_dir))
        env_settings = Settings.from_env()
        settings = Settings(
            **{
                **{f: getattr(env_settings, f) for f in env_settings.__dataclass_fields__},
                "data_dir": args.data_dir,
                "oidc_issuer": issuer,
                "oidc_local": True,
                **overrides,
            }
        )
        settings.validate()
        app = create_app(settings)
        print(f"Picbucket on http://127.0.0.1:{args.port} (sign in at {issuer} with any email)")
        app.run(host="127.0.0.1", port=args.port, threaded=True, use_reloader=False)


def port_problem(port: int, host: str = "127.0.0.1") -> str | None:
    """Return why ``port`` cannot be listened on (e.g. another program has it), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers set it: a port left in TIME_WAIT by our last run is not "busy".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "another program is using it (on macOS, AirPlay Receiver takes 5000)"
            return exc.strerror or str(exc)
    return None


if __name__ == "__main__":
    main()
