"""The admin's pages, one blueprint per area: overview, crons, jobs, workers, dead
letters (jobu-queued's)."""
