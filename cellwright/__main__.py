import sys

from cellwright.cli import main

sys.exit(main())
