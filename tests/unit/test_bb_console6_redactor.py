"""The relay's redactor: short secrets cut as words only, none ever let out.

A BMC password of 1-3 characters was replaced everywhere in the console's
output ("ab" in "about", "table"...), mangling the log and the client's
screen; the functional test with ipmi_sim is
tests/functional/test_bb_console6_short_password.py.
"""

import pytest

from hwdrivers.conductor import console_relay

TEXT = b"about the lab table, abab and tab\r\n"


def _stream(redactor, data, step):
    out = b"".join(redactor.feed(data[i:i + step]) for i in range(0, len(data), step))
    return out + redactor.flush()


@pytest.mark.parametrize("step", [1, 2, 3, 7, 100], ids=lambda s: "step%d" % s)
@pytest.mark.parametrize("secret", ["a", "ab", "abc", "ta"], ids=lambda s: "pw-" + s)
def test_short_secret_inside_words_leaves_output_alone(secret, step):
    assert _stream(console_relay.Redactor([secret]), TEXT, step) == TEXT


@pytest.mark.parametrize("step", [1, 2, 5, 100], ids=lambda s: "step%d" % s)
def test_short_secret_as_a_word_is_cut_wherever_the_reads_split(step):
    data = b"ab\r\npassword: ab\r\n(ab) user=ab;ab"
    out = _stream(console_relay.Redactor(["ab"]), data, step)
    assert out == b"******\r\npassword: ******\r\n(******) user=******;******"


def test_short_secret_at_the_end_waits_for_the_next_byte_or_the_flush():
    redactor = console_relay.Redactor(["ab"])
    assert redactor.feed(b"x ab") == b"x "  # held: "abc" or "ab "?
    assert redactor.feed(b"c ") == b"abc "
    assert redactor.feed(b"ab") == b""
    # Nothing followed in time: the end counts as a word's end, never a leak.
    assert redactor.flush() == b"******"
    assert redactor.feed(b"c") == b"c"


def test_long_secret_is_cut_even_inside_words():
    out = _stream(console_relay.Redactor(["hunter22"]), b"xhunter22y hunter22", 3)
    assert out == b"x******y ******"


def test_scrub_cuts_short_secret_words_only():
    redactor = console_relay.Redactor(["ab", "s3cr3tpass"])
    assert redactor.scrub(b"about ab s3cr3tpassx") == b"about ****** ******x"


def test_extended_redactor_goes_on_where_the_old_one_was():
    redactor = console_relay.Redactor(["ab"])
    assert redactor.feed(b"x") == b"x"
    newer = redactor.extended(["cd"])
    # "x" came before: "ab" and "cd" here are inside a word.
    assert newer.feed(b"ab cd ") == b"ab ****** "
