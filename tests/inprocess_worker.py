"""RQ's SimpleWorker for the tests that drain a queue in their own process."""

from __future__ import annotations

from rq import SimpleWorker


class InProcessWorker(SimpleWorker):
    """SimpleWorker (jobs run in this process, through RQ's own dequeue, registries and
    callbacks) whose command listener waits 50 ms per poll instead of RQ's 60 s.

    At the end of every ``work(burst=True)`` RQ unsubscribes and joins that listener thread
    with a 1 s timeout; with a 60 s poll the join ran out about every other time, so each
    drain of a queue cost up to a second of waiting. Commands still arrive the same way."""

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=0.05, daemon=True, exception_handler=self._pubsub_exception_handler
        )
