import sys

from nowcast.cli import main

sys.exit(main())
