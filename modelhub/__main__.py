import sys

from modelhub.cli.main import main

sys.exit(main())
