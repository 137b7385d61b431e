"""benchmarks/ptq_worker.py serves a package's modules from rewritten files.

The benchmark's "prepared" numbers are only worth something if the model really is built
from the rewritten files, with the package's relative imports still resolving: this runs
the worker's finder on a small package in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rewritten_modules_replace_the_installed_ones(tmp_path):
    installed = tmp_path / "site" / "pkg"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("from .net import build\n")
    (installed / "helpers.py").write_text("def scale():\n    return 2\n")
    (installed / "net.py").write_text("from .helpers import scale\n\ndef build():\n    return ('installed', scale())\n")
    tree = tmp_path / "tree" / "pkg"
    tree.mkdir(parents=True)
    (tree / "net.py").write_text("from .helpers import scale\n\ndef build():\n    return ('rewritten', scale())\n")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(tmp_path / 'site')!r}]
        from benchmarks.ptq_worker import _Rewritten
        sys.meta_path.insert(0, _Rewritten({{"pkg.net": ({str(tree / 'net.py')!r}, {str(installed / 'net.py')!r})}}))
        import pkg
        assert pkg.build() == ("rewritten", 2), pkg.build()
        assert sys.modules["pkg.net"].__file__ == {str(tree / 'net.py')!r}
        assert sys.modules["pkg.helpers"].__file__ == {str(installed / 'helpers.py')!r}
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
