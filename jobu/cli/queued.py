"""`jobu queued` (the jobu-queued daemon) and `jobu queue …` (send, dead letters)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading

from jobu.cli.context import Context
from jobu.cli.daemons import run_daemon
from jobu.cli.output import clip, print_fields, print_json, print_table, when
from jobu.config import QUEUE_FILE, Config
from jobu.errors import InvalidInputError
from jobu.operations import dead_letters
from jobu.queued import sending
from jobu.queued.consumer import QueueConsumer
from jobu.queued.kafka import KafkaSource
from jobu.store import Store
from jobu.systemd import Notifier

DISABLED = ("queue.yaml says enabled: false, so jobu-queued has nothing to consume; set "
            "enabled: true, kafka.bootstrap_servers and topics to start it")


def register(commands: argparse._SubParsersAction) -> None:
    queued = commands.add_parser(
        "queued", help="run jobu-queued: Kafka messages become executions",
        description="Run jobu-queued in the foreground (the jobu-queued service): the "
                    "messages of the topics in queue.yaml become executions, exactly once: "
                    "each batch's executions, dead letters and partition positions are "
                    "written in one transaction of the jobs database, and consumption resumes "
                    "from the stored positions. Several processes share the partitions "
                    "through leases in the jobs database. A message that cannot become an "
                    "execution is kept as a dead letter (jobu queue dead-letters). A message's "
                    "key and headers are kept beside its execution; a dedupe_key header is "
                    "its dedupe key. Broker and database outages are logged once and retried "
                    "with backoff. With "
                    "enabled: false in queue.yaml it exits 0 at once, saying why. SIGTERM "
                    "finishes the batch in hand and stops; SIGHUP reloads queue.yaml's topics.")
    queued.set_defaults(func=cmd_queued, secrets_of=(QUEUE_FILE,))

    queue = commands.add_parser("queue", help="send test messages; dead letters of jobu-queued",
                                description="Tools around jobu-queued.")
    actions = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    send = actions.add_parser(
        "send", help="produce well-formed messages to a topic",
        description="Produce messages in jobu's format ({\"handler_name\", \"params\"}) to "
                    "TOPIC on the brokers of queue.yaml, to check a pipeline end to end.")
    send.add_argument("topic", metavar="TOPIC")
    send.add_argument("--handler", metavar="H",
                      help="the handler_name of the message (default: none, the topic's own)")
    send.add_argument("--params", metavar="JSON", default="{}",
                      help="the params, a JSON object (default {})")
    send.add_argument("--key", metavar="K", help="the message key (default: none)")
    send.add_argument("--count", metavar="N", type=int, default=1,
                      help="send N copies (default 1)")
    send.set_defaults(func=cmd_send, secrets_of=(QUEUE_FILE,))

    letters = actions.add_parser(
        "dead-letters", help="messages that could not become executions",
        description="Messages jobu-queued kept because they could not become executions "
                    "(not JSON, not an object, a handler the topic does not allow, too large, "
                    "…), each with its reason.")
    verbs = letters.add_subparsers(dest="dead_letters_command", metavar="ACTION", required=True)
    listing = verbs.add_parser("list", help="list dead letters, newest first")
    listing.add_argument("--topic", help="only those of TOPIC")
    listing.add_argument("--limit", type=int, default=50, help="at most N (default 50)")
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(func=cmd_dead_letters_list)
    show = verbs.add_parser("show", help="one dead letter with its message")
    show.add_argument("id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON for scripts")
    show.set_defaults(func=cmd_dead_letters_show)
    replay = verbs.add_parser(
        "replay", help="check a dead letter again against queue.yaml; make it an execution",
        description="Check the message again against queue.yaml as it is now (for instance "
                    "after adding its handler to the topic's allowed_handlers). If it passes, "
                    "its execution is written and the dead letter deleted in one transaction; "
                    "otherwise the command fails with the reason (exit 1).")
    replay.add_argument("id", type=int, metavar="ID")
    replay.set_defaults(func=cmd_dead_letters_replay)
    discard = verbs.add_parser("discard", help="delete a dead letter")
    discard.add_argument("id", type=int, metavar="ID")
    discard.set_defaults(func=cmd_dead_letters_discard)


# --- the daemon --------------------------------------------------------------------------


def build_consumer(config: Config, store: Store, wake: threading.Event) -> QueueConsumer:
    settings = config.queue
    source = KafkaSource(settings.kafka, start_from=settings.start_from)
    return QueueConsumer(store, settings, source)


def cmd_queued(ctx: Context) -> int:
    settings = ctx.config.queue  # a configuration that does not load exits 78 here
    if not settings.enabled:
        print(f"jobu: {DISABLED}", file=sys.stderr)
        with Notifier() as notifier:  # Type=notify: a clean start, then the exit
            notifier.ready(status="disabled: " + DISABLED)
        return 0
    return run_daemon(ctx, build_consumer, log_level=settings.log_level,
                      log_format=settings.log_format, reload_config=ctx.load_config,
                      metrics_bind=settings.metrics_bind)


# --- jobu queue send -----------------------------------------------------------------------


def cmd_send(ctx: Context) -> int:
    try:
        params = json.loads(ctx.args.params)
    except ValueError as error:
        raise InvalidInputError(f"--params is not valid JSON: {error}") from None
    body = sending.message_body(ctx.args.handler, params)
    kafka = ctx.config.queue.kafka
    if not kafka.bootstrap_servers:
        raise InvalidInputError("queue.yaml names no kafka.bootstrap_servers to send to")
    written = sending.send(kafka, ctx.args.topic, body, key=ctx.args.key, count=ctx.args.count)
    partitions = sorted({partition for partition, _ in written})
    print(f"sent {len(written)} message(s) to {ctx.args.topic} "
          f"(partitions {', '.join(map(str, partitions))})")
    return 0


# --- jobu queue dead-letters ----------------------------------------------------------------


def _text(data: bytes | None) -> str | None:
    """Bytes as text when they are UTF-8, else as base64 (said so)."""
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def _letter_fields(letter: dead_letters.DeadLetter) -> dict:
    return {"id": letter.id, "group_id": letter.group_id, "topic": letter.topic,
            "partition": letter.partition, "offset": letter.offset, "key": _text(letter.key),
            "headers": [[name, _text(value)] for name, value in letter.headers],
            "message": _text(letter.raw), "size": len(letter.raw), "reason": letter.reason,
            "received_at": letter.received_at}


def cmd_dead_letters_list(ctx: Context) -> int:
    found = dead_letters.list_dead_letters(ctx.store, topic=ctx.args.topic,
                                           limit=ctx.args.limit)
    if ctx.json:
        print_json([_letter_fields(letter) for letter in found])
        return 0
    print_table(["ID", "RECEIVED", "TOPIC", "PARTITION", "OFFSET", "REASON"],
                [[letter.id, when(letter.received_at), letter.topic, letter.partition,
                  letter.offset, clip(letter.reason, 80)] for letter in found])
    return 0


def cmd_dead_letters_show(ctx: Context) -> int:
    fields = _letter_fields(dead_letters.show(ctx.store, ctx.args.id))
    if ctx.json:
        print_json(fields)
        return 0
    fields["received_at"] = when(fields["received_at"])
    fields["headers"] = json.dumps(fields["headers"])
    print_fields(list(fields.items()))
    return 0


def cmd_dead_letters_replay(ctx: Context) -> int:
    outcome = dead_letters.replay(ctx.store, ctx.config.queue, ctx.args.id)
    if outcome.execution_id is None:
        print(f"dead letter {outcome.dead_letter_id}: its execution already existed; "
              "dead letter removed")
    else:
        print(f"dead letter {outcome.dead_letter_id} is now execution {outcome.execution_id}")
    return 0


def cmd_dead_letters_discard(ctx: Context) -> int:
    dead_letters.discard(ctx.store, ctx.args.id)
    print(f"dead letter {ctx.args.id} discarded")
    return 0
