"""The embedded default's files broker (`atomicfs://`): whole messages only, in order.

Given a producer publishing while a consumer drains the same folder (the web, beat and relay
publish while the worker consumes), every message the consumer takes is whole: kombu's own
filesystem transport creates the message file before writing it, so a consumer could take it
empty and fail to decode it, which stops a Celery worker's consumer.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kombu import Connection, Exchange, Producer, Queue

import config.broker  # noqa: F401 - registers atomicfs://

MESSAGES = 1500


def _connection(folder: Path) -> Connection:
    return Connection(
        "atomicfs://",
        transport_options={
            "data_folder_in": str(folder / "messages"),
            "data_folder_out": str(folder / "messages"),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.01,
        },
    )


def test_a_consumer_draining_while_a_producer_publishes_reads_every_message_whole(tmp_path):
    queue = Queue("jobs", Exchange("jobs", type="direct"), routing_key="jobs")
    received: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with _connection(tmp_path) as conn, conn.SimpleQueue(queue) as simple:
                while len(received) < MESSAGES:
                    message = simple.get(block=True, timeout=30)
                    received.append(message.payload["n"])
                    message.ack()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    with _connection(tmp_path) as conn:
        producer = Producer(conn.default_channel)
        for n in range(MESSAGES):
            producer.publish(
                {"n": n, "padding": "x" * 2000},
                exchange=queue.exchange,
                routing_key="jobs",
                declare=[queue],
                serializer="json",
            )
    consumer.join(timeout=120)
    assert errors == [], f"{len(received)} of {MESSAGES} received"
    assert sorted(received) == list(range(MESSAGES))


def test_a_binding_this_process_already_made_is_written_where_the_table_is_missing(tmp_path):
    """kombu keeps one binding state per process: a bind it already knows skipped the table.

    That is the state another thread is in while its first bind is still writing the table, and
    a process is in after its folder was emptied; kombu then drops every message it publishes.
    """
    queue = Queue("jobs", Exchange("jobs", type="direct"), routing_key="jobs")
    with _connection(tmp_path / "first") as conn:
        queue.bind(conn.default_channel).declare()
    with _connection(tmp_path / "second") as conn:
        Producer(conn.default_channel).publish(
            {"n": 1}, exchange=queue.exchange, routing_key="jobs", declare=[queue]
        )
        with conn.SimpleQueue(queue) as simple:
            message = simple.get(block=True, timeout=5)
    assert message.payload == {"n": 1}


def test_the_channel_creates_its_folders(tmp_path):
    with _connection(tmp_path / "fresh") as conn:
        conn.default_channel  # noqa: B018 - opening the channel is the behaviour under test
    assert (tmp_path / "fresh" / "messages").is_dir()
