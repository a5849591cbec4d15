"""jobu-queued: messages of a queue (Kafka) become executions, exactly once.

* :mod:`jobu.queued.source` — the adapter interface a message source implements
  (``connect``, ``disconnect``, ``receive``, ``complete``, ``abandon``); its Record lives in
  :mod:`jobu.operations.queue_messages`.
* :mod:`jobu.queued.kafka` — that interface over kafka-python (2.0.2 and 3.x), with
  partitions assigned by hand: the jobs database, not Kafka's group protocol, decides who
  consumes what.
* :mod:`jobu.operations.queue_messages` (below, shared with the dead letters' replay) — what a
  message becomes: an execution or a dead letter's reason.
* :mod:`jobu.queued.consumer` — the daemon's Service: partition leases, batches written with
  their positions in one transaction, broker outages.
* :mod:`jobu.queued.sending` — `jobu queue send`; the dead letters' use cases (list, show,
  replay, discard) are :mod:`jobu.operations.dead_letters`, for the CLI and the admin.
"""
