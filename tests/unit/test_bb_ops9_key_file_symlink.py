"""A key file configured through a symbolic link is refused, saying so.

Key files are opened with O_NOFOLLOW (the mode is checked on the file
itself), and the refusal read "cannot be read: Too many levels of symbolic
links; it must be readable by the user hwdrivers runs as", for a single
link to a private, readable file: nothing in it said what to change.
"""

import pytest

from hwdrivers.common import secrets


def test_a_link_to_a_good_key_file_names_the_link_and_its_target(tmp_path):
    target = tmp_path / "real" / "secrets.key"
    target.parent.mkdir()
    secrets.add_key(str(target))
    link = tmp_path / "secrets.key"
    link.symlink_to(target)
    for read in (lambda: secrets.Keyring(str(link)), lambda: secrets.add_key(str(link))):
        with pytest.raises(secrets.KeyFileError) as caught:
            read()
        message = str(caught.value)
        assert "Too many levels" not in message
        assert ("[secrets] key_file %s is a symbolic link (to %s)" % (link, target)
                in message), message
    assert link.is_symlink()  # add_key did not replace the link with a new file
