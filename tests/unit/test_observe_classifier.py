from pnsbox.observe.classifier import parse_queues


def test_the_kernels_queue_table_is_read():
    text = "    0  23456     3 2 65531     7     2   118  1\n    1  23457     0 2 65531     0     0     9  1\n"
    queues = parse_queues(text)
    assert sorted(queues) == [0, 1]
    assert queues[0] == {"portid": 23456, "backlog": 3, "dropped": 7, "user_dropped": 2, "id_sequence": 118}
    assert parse_queues("") == {}
