"""`pylint-distiller lsp`: a language server over stdio (pygls).

Publishes the plugin's findings as diagnostics for open Python documents and
offers code actions: each finding's fix (the same edits ``pylint-distiller fix``
makes), a ``# pylint: disable=`` comment for the line, and
``source.fixAll.distiller`` (every safe fix). Settings come from the project's
pyproject.toml, overridable by ``initializationOptions`` such as
``{"target": "torch-eager"}``. See docs/editors.md.
"""

from __future__ import annotations

import argparse
import logging
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pylint-distiller lsp",
        description="Language server over stdio: diagnostics and quick fixes for quantization preparation.",
    )
    parser.add_argument("--stdio", action="store_true", help="accepted for editor compatibility (stdio is the default)")
    parser.add_argument("--log-file", metavar="PATH", help="write the server log here (default: stderr)")
    parser.add_argument("--log-level", default="WARNING",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="default: WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        filename=args.log_file,
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        from pylint_distiller.lsp.server import build_server
    except ImportError as exc:  # pygls / lsprotocol are an optional extra
        sys.stderr.write(f"error: the language server needs pygls and lsprotocol ({exc}); "
                         "install them with: pip install 'pylint-distiller[lsp]'\n")
        return 2
    build_server().start_io()
    return 0
