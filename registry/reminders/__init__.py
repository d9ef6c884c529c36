"""Reminders: what is due (finder), sending and logging them (services), the cron command (cli)."""
