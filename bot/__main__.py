"""``python -m bot``: Telegram when ``TELEGRAM_TOKEN`` is set, else the console chat."""

from bot.app import main

raise SystemExit(main())
