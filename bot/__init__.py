"""Chat bot: conversation core and chat adapters."""
