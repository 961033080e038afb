"""Shell command templates whose placeholders cannot add shell syntax.

A command template (``virsh start {vm}``) is written by an operator; the
values of its placeholders come from nodes, i.e. from API users. Each
placeholder becomes one ``shlex.quote``-d word, which is safe only where the
shell parses words. :func:`placeholders` follows the shell's tokenizing
(quotes, backticks, ``$(...)``, ``${...}``, subshells, here-documents,
backslashes and ``#`` comments, as POSIX sh, dash and bash agree) far enough
to refuse every position where that quoting would be undone, with a message
saying what to write instead. :func:`render` fills a checked template.
"""

import re
import shlex
import string

_PLACEHOLDER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_FORMATTER = string.Formatter()
_QUOTE_NAMES = {"'": "single quotes", '"': "double quotes", "`": "backticks"}
#: Characters after which an unquoted ``#`` starts a comment (a new token).
_WORD_BREAKS = frozenset(" \t\n;&|()<>")
_WORD = "a"  # stands for "the previous character was part of a word"


def _scan(literal, stack, state):
    """Advance the shell's parse ``stack`` over ``literal`` (text without placeholders).

    The stack holds the open contexts: ``'``, ``"``, `````, ``$(`` and
    ``(`` (the last two unquoted), ``${`` and ``"${`` (a parameter
    expansion, unquoted or inside double quotes). ``state`` records a
    pending backslash, whether an unquoted ``<<`` (here-document) was seen,
    whether a ``#`` comment is open (until the next newline) and the
    previous character (``prev``), which decides whether a ``#`` starts a
    word and so a comment: it does at the start, after blanks and after
    ``;&|()<>``, but not inside a word (``a#b``, ``$(x)#y``, ``${#x}``).
    """
    i = 0
    state["escaped"] = False
    while i < len(literal):
        char = literal[i]
        top = stack[-1] if stack else None
        prev = char
        if state["comment"]:
            if char == "\n":
                state["comment"] = False
        elif top == "'":
            if char == "'":
                stack.pop()
        elif char == "\\":
            if i + 1 == len(literal):
                state["escaped"] = True
            i += 1
            prev = _WORD
        elif top == '"':
            if char == '"':
                stack.pop()
            elif literal.startswith("$(", i) or literal.startswith("${", i):
                stack.append("$(" if literal[i + 1] == "(" else '"${')
                i += 1
            elif char == "`":
                stack.append("`")
        elif top == "`":
            if char == "`":
                stack.pop()
        elif top in ("${", '"${'):
            if char == "}":
                stack.pop()
            elif char == "'" and top == '"${':
                # bash opens a quote here, dash reads a literal ': no safe reading.
                raise ValueError("has a single quote inside a double-quoted ${...}, "
                                 "which bash and dash read differently: rewrite it")
            elif char in "'\"`":
                stack.append(char)
            elif literal.startswith("$(", i) or literal.startswith("${", i):
                stack.append("$(" if literal[i + 1] == "(" else "${")
                i += 1
        elif char in "'\"`":
            stack.append(char)
            prev = _WORD
        elif literal.startswith("$(", i) or literal.startswith("${", i):
            stack.append("$(" if literal[i + 1] == "(" else "${")
            i += 1
            prev = "(" if stack[-1] == "$(" else _WORD
        elif char == "(":
            stack.append("(")
        elif char == ")" and top in ("$(", "("):
            # $(...) ends inside a word; a subshell's ) is an operator.
            prev = _WORD if stack.pop() == "$(" else ")"
        elif char == "#" and state["prev"] in _WORD_BREAKS | {None}:
            state["comment"] = True
        elif literal.startswith("<<", i):
            if literal.startswith("<<<", i):
                i += 2
            else:
                state["heredoc"] = True
                i += 1
        elif char not in _WORD_BREAKS:
            prev = _WORD
        state["prev"] = prev
        i += 1


def placeholders(template):
    """Placeholder names of ``template``; ValueError saying what is wrong.

    Only bare ``{field}`` is allowed (no ``{a.b}``, ``{a[0]}``, ``{a!r}``,
    ``{a:>9}``). Each becomes one single-quoted shell word, which is safe
    only where the shell parses words: so a placeholder is refused inside
    quotes (the value's own quotes would close them), inside backticks
    (whose end the shell finds before honouring quotes), inside ``${...}``,
    right after a backslash (which would escape the opening quote), after a
    here-document ``<<`` (whose body expands ``$(...)`` even in quotes) and
    after a ``#`` that starts a comment (a newline in the value would end
    the comment and start a command). Inside ``$(...)``, also within double
    quotes, words are parsed again, so ``test "$(cat {file})" = on`` is fine.
    """
    names = []
    stack = []
    state = {"escaped": False, "heredoc": False, "comment": False, "prev": None}
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError("is not a valid template (%s); write literal braces as "
                         "{{ and }}" % exc) from None
    for literal, field, spec, conversion in parsed:
        _scan(literal, stack, state)
        if field is None:
            continue
        if not _PLACEHOLDER.match(field) or spec or conversion:
            raise ValueError("has placeholder {%s%s%s}: use a bare {field_name}" % (
                field, "!" + conversion if conversion else "", ":" + spec if spec else ""))
        if state["comment"]:
            raise ValueError("puts {%s} after a # that starts a shell comment: a line "
                             "break in the value would end the comment and run the rest; "
                             "move the placeholder before the #, or quote the # ('#')"
                             % field)
        if "`" in stack:
            raise ValueError("puts {%s} inside backticks: write $(...) instead" % field)
        if stack and stack[-1] in ("'", '"'):
            raise ValueError("puts {%s} inside %s: remove the quotes, every placeholder "
                             "is quoted for the shell already" % (
                                 field, _QUOTE_NAMES[stack[-1]]))
        if "${" in stack or '"${' in stack:
            raise ValueError("puts {%s} inside ${...}: pass it as a word of its own"
                             % field)
        if state["escaped"]:
            raise ValueError("puts a backslash right before {%s}: remove it" % field)
        if literal.endswith("$"):
            raise ValueError("puts $ right before {%s}: a placeholder is a value, not a "
                             "variable name (write ${{VAR}} for a shell variable)" % field)
        if state["heredoc"]:
            raise ValueError("uses {%s} after a here-document (<<), whose body would "
                             "expand $(...) in the value: pass it as an argument" % field)
        names.append(field)
        state["prev"] = _WORD  # the quoted value is a word
    return names


def render(template, values):
    """``template`` with each placeholder replaced by its shell-quoted value."""
    out = []
    for literal, field, _spec, _conversion in _FORMATTER.parse(template):
        out.append(literal)
        if field is not None:
            out.append(shlex.quote(str(values[field])))
    return "".join(out)
