"""``python -m lasagne_style.compat install|remove|status``."""
import sys

from . import main

sys.exit(main())
