import sys

from dyad.runtime.cli.main import main

sys.exit(main())
