"""`python -m jobu` is the `jobu` command."""

from jobu.cli import main

raise SystemExit(main())
