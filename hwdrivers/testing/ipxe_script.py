"""Just enough of iPXE's script language for a simulated machine to follow a boot chain.

Commands: ``chain``, ``kernel``, ``initrd``, ``imgargs``, ``imgfree``,
``boot``, ``exit``, ``echo``, ``sleep``, ``set``, ``inc``, ``iseq``,
``isset``, ``goto`` and labels; ``&&`` and ``||`` between commands;
``${var}`` and ``${var:hexhyp}``. Fetching goes through a callable, so every
URL a script names is really requested. Steps are bounded: a script that
loops forever ends the boot as a real machine's firmware would be stuck.
"""

import dataclasses
import re
import time
from collections.abc import Callable

MAX_STEPS = 2000
SLEEP_CAP = 0.2  # seconds a ``sleep`` really waits: scripts retry, tests should not crawl

_VAR = re.compile(r"\$\{([A-Za-z0-9_.-]+)(?::([a-z]+))?\}")


class ScriptError(Exception):
    pass


@dataclasses.dataclass
class BootImage:
    kernel: str
    initrds: list[str]
    cmdline: str


class _Jump(Exception):
    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


class _Done(Exception):
    def __init__(self, result: BootImage | None) -> None:
        super().__init__("done")
        self.result = result


class Interpreter:
    """Runs a script from a URL: returns the kernel to boot, or None (``exit``)."""

    def __init__(self, mac: str, fetch: Callable[[str], bytes],
                 log: Callable[[str], None] = lambda line: None,
                 stopped: Callable[[], bool] = lambda: False) -> None:
        self.vars = {"mac": mac.lower()}
        self.fetch = fetch
        self.log = log
        self.stopped = stopped
        self.kernel: str | None = None
        self.kernel_args = ""
        self.initrds: list[str] = []
        self.steps = 0

    def expand(self, text: str) -> str:
        def one(match: re.Match) -> str:
            value = str(self.vars.get(match.group(1), ""))
            if match.group(2) == "hexhyp":
                value = value.replace(":", "-")
            return value
        return _VAR.sub(one, text)

    def run_url(self, url: str) -> BootImage | None:
        try:
            self._run_script(url)
        except _Done as done:
            return done.result
        return None

    def _run_script(self, url: str) -> None:
        text = self.fetch(url).decode("utf-8", "replace")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("#!ipxe"):
            raise ScriptError("%s is not an iPXE script (no #!ipxe line)" % url)
        self.base = url.rsplit("/", 1)[0]
        labels = {line.strip()[1:]: n for n, line in enumerate(lines)
                  if line.strip().startswith(":")}
        pc = 1
        while pc < len(lines):
            self.steps += 1
            if self.steps > MAX_STEPS or self.stopped():
                raise ScriptError("the script ran %d steps without booting" % self.steps)
            line = lines[pc].strip()
            pc += 1
            if not line or line.startswith("#") or line.startswith(":"):
                continue
            try:
                self._line(line)
            except _Jump as jump:
                if jump.label not in labels:
                    raise ScriptError("goto %s: no such label" % jump.label)
                pc = labels[jump.label] + 1

    def _line(self, line: str) -> None:
        parts = re.split(r"\s+(&&|\|\|)\s*", " " + line + " ")
        ok = self._command(parts[0].strip())
        for op, cmd in zip(parts[1::2], parts[2::2]):
            cmd = cmd.strip()
            if op == "&&" and ok:
                ok = self._command(cmd) if cmd else True
            elif op == "||" and not ok:
                ok = self._command(cmd) if cmd else True

    def _url(self, target: str) -> str:
        if "://" in target:
            return target
        return "%s/%s" % (self.base, target)

    def _command(self, text: str) -> bool:
        words = self.expand(text).split()  # as iPXE: whitespace only, quotes are literal
        if not words:
            return True
        name, args, index = words[0], [], 1
        while index < len(words):  # options dropped; --name takes a value
            word = words[index]
            index += 2 if word == "--name" else 1
            if not word.startswith("--"):
                args.append(word)
        handler = getattr(self, "_cmd_" + name, None)
        if handler is None:
            self.log("ipxe: unknown command %s ignored" % name)
            return True
        return handler(args)

    def _get(self, url: str) -> bytes | None:
        try:
            return self.fetch(url)
        except Exception as exc:
            self.log("ipxe: fetching %s failed: %s" % (url, exc))
            return None

    def _cmd_chain(self, args: list[str]) -> bool:
        url = self._url(args[0])
        self.log("ipxe: chain %s" % url)
        try:
            self._run_script(url)
        except ScriptError as exc:
            self.log("ipxe: %s" % exc)
            return False
        except OSError as exc:
            self.log("ipxe: chain %s failed: %s" % (url, exc))
            return False
        raise _Done(None)  # the chained script ended without booting: exit

    def _cmd_kernel(self, args: list[str]) -> bool:
        url = self._url(args[0])
        if self._get(url) is None:
            return False
        self.kernel, self.kernel_args = url, " ".join(args[1:])
        self.log("ipxe: kernel %s" % url)
        return True

    def _cmd_imgargs(self, args: list[str]) -> bool:
        self.kernel_args = " ".join(args[1:])
        return True

    def _cmd_initrd(self, args: list[str]) -> bool:
        url = self._url(args[0])
        if self._get(url) is None:
            return False
        self.initrds.append(url)
        self.log("ipxe: initrd %s" % url)
        return True

    def _cmd_imgfree(self, args: list[str]) -> bool:
        self.kernel, self.kernel_args, self.initrds = None, "", []
        return True

    def _cmd_boot(self, args: list[str]) -> bool:
        if not self.kernel:
            self.log("ipxe: boot: no kernel loaded")
            return False
        raise _Done(BootImage(self.kernel, list(self.initrds), self.kernel_args))

    def _cmd_exit(self, args: list[str]) -> bool:
        raise _Done(None)

    def _cmd_echo(self, args: list[str]) -> bool:
        self.log("ipxe: %s" % " ".join(args))
        return True

    def _cmd_sleep(self, args: list[str]) -> bool:
        time.sleep(min(float(args[0]) if args else 1.0, SLEEP_CAP))
        return True

    def _cmd_set(self, args: list[str]) -> bool:
        self.vars[args[0].split(":")[0]] = " ".join(args[1:])
        return True

    def _cmd_inc(self, args: list[str]) -> bool:
        self.vars[args[0]] = int(self.vars.get(args[0]) or 0) + (int(args[1]) if len(args) > 1
                                                                 else 1)
        return True

    def _cmd_iseq(self, args: list[str]) -> bool:
        return len(args) >= 2 and str(args[0]) == str(args[1])

    def _cmd_isset(self, args: list[str]) -> bool:
        return bool(args and args[0])

    def _cmd_goto(self, args: list[str]) -> bool:
        raise _Jump(args[0])
