import sys

from shopsense.cli import main

sys.exit(main())
