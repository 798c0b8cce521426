"""Allow `python -m cxgen`."""

from cxgen.cli import main

raise SystemExit(main())
