"""A reply part sent again after its worker went silent: only what was not heard, under a new id."""

from streaming.realtime.replies import Reply


def test_a_retry_sends_the_unheard_sentences_under_a_new_worker_request_id():
    reply = Reply(request_id="abc", language="en", queued=["One. Two. Three.", "Four."])
    assert reply.next_part() == "One. Two. Three." and reply.worker_request_id == "abc.1"
    assert reply.next_part() is None  # one part in flight at a time
    reply.part_heard = 1
    assert reply.retry_part() == "Two. Three." and reply.worker_request_id == "abc.2" and reply.part_retried
    assert Reply.id_of("abc.2") == "abc"
    reply.in_flight = False
    assert reply.next_part() == "Four." and reply.worker_request_id == "abc.3"
    assert (reply.part_heard, reply.part_retried) == (0, False)  # the next part gets its own retry
