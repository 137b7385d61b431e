"""Test-only stand-in for Intel's Distiller package. Never installed, never shipped.

Distiller is archived and not installable from the package index, yet the
distiller-target rewrites emit ``import distiller.modules`` and the tests must
execute the rewritten models. This package provides exactly the part of the API
those rewrites use, ``distiller.modules``, as documented in
/work/shared/distiller-api.md. Tests put ``tests/stubs`` on ``sys.path`` only for
as long as they need it (see ``tests.support.runtime_equivalence.stub_distiller_on_path``).
"""

from . import modules

__all__ = ["modules"]
