import sys

from modelhub.cli.app import main

sys.exit(main())
