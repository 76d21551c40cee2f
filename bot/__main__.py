"""``python -m bot``: Telegram and/or Discord when their tokens are set, else the console chat."""

from bot.app import main

raise SystemExit(main())
