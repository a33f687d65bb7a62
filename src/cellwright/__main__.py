import sys

from cellwright.app.cli import main

sys.exit(main())
