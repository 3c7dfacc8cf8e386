"""What every Tradeflow service shares: money, events, outbox/inbox, timers, settings, logging."""
