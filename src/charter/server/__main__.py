"""`python -m charter.server`: run the prediction server (the container entrypoint uses it)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from charter.errors import CharterError
from charter.server._config import STYLES
from charter.server._run import ServeOptions, serve


def parse(argv: Sequence[str] | None = None) -> ServeOptions:
    """The command line as ServeOptions."""
    parser = argparse.ArgumentParser(
        prog="python -m charter.server", description="Serve a charter project's model over HTTP."
    )
    parser.add_argument("--charter", default="charter.yaml", help="the charter file or its folder")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--alias", default="champion", help="serve (and follow) this alias")
    which.add_argument("--version", type=int, default=None, help="serve this model version")
    which.add_argument("--bundle", default=None, help="serve a packaged model folder")
    parser.add_argument("--style", choices=STYLES, default="default")
    parser.add_argument("--host", default=None, help="default: serve.host (loopback)")
    parser.add_argument("--port", type=int, default=None, help="default: the style's port")
    parser.add_argument("--workers", type=int, default=None, help="default: serve.workers")
    parser.add_argument("--log-mode", choices=("durable", "fast"), default=None)
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--ledger-url", default=None)
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    return ServeOptions(
        charter=args.charter,
        alias=args.alias,
        version=args.version,
        bundle=args.bundle,
        style=args.style,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_mode=args.log_mode,
        log_dir=args.log_dir,
        ledger_url=args.ledger_url,
        poll_seconds=args.poll_seconds,
        access_log=args.access_log,
        log_level=args.log_level,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        serve(parse(argv))
    except CharterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
