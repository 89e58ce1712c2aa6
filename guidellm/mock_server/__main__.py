"""Child-process entry of ``MockServer.start_process()``: ``python -m guidellm.mock_server``.

Prints ``LISTENING <url>`` (or ``FAILED <message>``) as its first stdout line, then serves
until SIGTERM/SIGINT or, with ``--watch-stdin``, until its parent closes the stdin pipe.
"""

from __future__ import annotations

import argparse
import json
import sys

from guidellm.errors import UserError
from guidellm.mock_server.behavior import MockServerConfig
from guidellm.mock_server.server import run_foreground


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guidellm.mock_server")
    parser.add_argument("--config-json", default="{}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--watch-stdin", action="store_true")
    args = parser.parse_args(argv)

    def announce(url: str) -> None:
        print(f"LISTENING {url}", flush=True)

    try:
        config = MockServerConfig.from_dict(json.loads(args.config_json))
        run_foreground(config, args.host, args.port, announce, watch_stdin=args.watch_stdin)
    except UserError as exc:
        print(f"FAILED {exc}", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
