"""``faultline serve``: the insight API and the web console on one port (default 127.0.0.1:8080).

With nothing configured it serves the bundled demo case, token-less on loopback, so ``faultline serve`` then a
browser on http://127.0.0.1:8080 shows the magic wand working. ``--host``/``--port`` override
``FAULTLINE_HOST``/``FAULTLINE_PORT``; everything else comes from ``FAULTLINE_*`` settings (see ``api/settings.py``).
"""

from __future__ import annotations

import argparse
import signal
import sys

from pydantic import ValidationError


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..app import create_app
    from ..settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("case_dir", args.case_dir),
                                   ("db_path", args.db)) if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        print(f"faultline: error: {where}: {message}", file=sys.stderr)
        return 2
    app = create_app(settings)
    print(f"faultline console and API on {settings.base_url}  (API docs: {settings.base_url}/docs)", flush=True)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info" if args.verbose else "warning",
                    access_log=args.verbose, server_header=False)
    except _Terminated:
        return 128 + signal.SIGTERM  # shut down gracefully; the exit runs atexit cleanups (the demo's temp folder)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


class _Terminated(Exception):
    """SIGTERM arrived (Kubernetes, systemd, ``docker stop``)."""


def _terminated(signum: int, frame: object) -> None:
    """Why: uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to die by it — with Python's default
    handler that kills the process before ``atexit`` runs, so the temporary demo folder was left behind. Re-raised into
    this handler instead, it unwinds like SIGINT does and every cleanup runs."""
    raise _Terminated()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the insight API and web console")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, or FAULTLINE_HOST)")
    parser.add_argument("--port", type=int, help="port (default 8080, or FAULTLINE_PORT; 0 picks a free one)")
    parser.add_argument("--case-dir", dest="case_dir", help="serve this case directory instead of the demo")
    parser.add_argument("--db", help="SQLite insight store (default var/faultline.sqlite3, or FAULTLINE_DB_PATH)")
    parser.set_defaults(handler=run)
