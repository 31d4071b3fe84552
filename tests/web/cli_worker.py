"""`gql-server` commands for the browser tests' sites, run one after another in one long-lived process.

Each command used to be a process of its own (about 0.7 s, nearly all of it Python importing the service);
a browser test seeds two to four users, so that start-up was a good part of the browser tests' time (P8).
This runs `gql_server.cli.main` for each line of JSON it reads on stdin (the arguments) and answers a line
of JSON: the exit code and what the command printed on stdout and stderr. The command is the same code,
with the same environment and working directory, that `python -m gql_server.cli` would run.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

from gql_server.cli import main


def serve() -> None:
    """Answer commands until stdin closes."""
    answers = sys.stdout
    for line in sys.stdin:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(json.loads(line))
            except SystemExit as stop:  # argparse's usage errors
                code = stop.code if isinstance(stop.code, int) else 1
        answers.write(json.dumps({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
