"""Client-chosen text made safe to write into a log line.

Request paths, header values and names come from whoever can reach the
API, percent-decoded: written raw, an encoded newline starts a forged log
line that looks like the service's own, and a NUL turns the log into a
binary file that ``grep`` will not print. :func:`printable` escapes those
characters the way Python's ``ascii()`` shows them and leaves printable
text in any script as it is.
"""


def printable(text: str) -> str:
    """``text`` with every unprintable character escaped (``\\n``, ``\\x00``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def cut(text: str, limit: int) -> str:
    """``text`` cut after ``limit`` characters, saying how many more there were:
    what a tool or a ramdisk said is quoted, not carried whole into an error."""
    if len(text) <= limit:
        return text
    return "%s... (%d more characters)" % (text[:limit], len(text) - limit)
