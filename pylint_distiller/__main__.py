import sys

from pylint_distiller.cli import main

sys.exit(main())
