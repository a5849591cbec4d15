"""jobu-queued: messages of a queue (Kafka) become executions, exactly once.

* :mod:`jobu.queued.source` — the adapter interface a message source implements
  (``connect``, ``disconnect``, ``receive``, ``complete``, ``abandon``), and its Record.
* :mod:`jobu.queued.kafka` — that interface over kafka-python (2.0.2 and 3.x), with
  partitions assigned by hand: the jobs database, not Kafka's group protocol, decides who
  consumes what.
* :mod:`jobu.queued.messages` — what a message becomes: an execution or a dead letter's reason.
* :mod:`jobu.queued.consumer` — the daemon's Service: partition leases, batches written with
  their positions in one transaction, broker outages.
* :mod:`jobu.queued.dead_letters` and :mod:`jobu.queued.sending` — `jobu queue …`.
"""
