"""jobu: a batch-job scheduler for Debian/Ubuntu servers.

Cron schedules, events and on-demand calls become rows in one SQL database;
daemons claim and run them with retries, timeouts and leases.
"""

__version__ = "0.1.0"
