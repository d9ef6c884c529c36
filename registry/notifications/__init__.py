"""The reminders each user reads in the app, and the unread count in every page's header."""
