"""A throw-away Dovecot (the real IMAP server) for the email-channel tests.

Debian's dovecot-imapd, started as `dovecot -F -c <our conf>` on a free port: its own
config, users, maildirs, base_dir and state_dir in a temp folder; no root daemon, nothing in
/etc touched. Each test gets a mailbox user of its own (`Dovecot.new_account`), so tests
share one server yet never see each other's mail. Mail is delivered with IMAP APPEND
(imaplib from the standard library: the test side need not be async).
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
FOLDERS = ("INBOX", "Processed", "Failed")
# Every user name logs in with this password (a static passdb): a test's mailbox is a user
# name nobody else uses, and its maildir appears on first login.
PASSWORD = "dovecot-test-password"


def _mail_owner() -> tuple[int, int]:
    """Whose files the mailboxes are: ours, unless we are root (Dovecot refuses to run
    mail processes as root, so they then run as its own unprivileged dovenull user)."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    for name in ("dovenull", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root, and neither dovenull nor nobody exists for Dovecot's mail processes")


def _config(root: Path, port: int, extra: str = "") -> str:
    uid, gid = _mail_owner()
    me = pwd.getpwuid(os.getuid()).pw_name
    login_user = "dovenull" if os.geteuid() == 0 else me
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {me}
default_internal_group = {grp.getgrgid(os.getgid()).gr_name}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
{extra}
"""


@dataclass(frozen=True)
class Account:
    """One mailbox user on the test Dovecot."""

    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"imap://{self.user}:{self.password}@127.0.0.1:{self.port}/INBOX"

    def _login(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(self.user, self.password)
        return imap

    def append(self, raw: bytes | str, folder: str = "INBOX") -> None:
        """Deliver a message as an MTA would (IMAP APPEND)."""
        data = raw.encode() if isinstance(raw, str) else raw
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        imap = self._login()
        try:
            typ, detail = imap.append(folder, None, None, data)
            assert typ == "OK", detail
        finally:
            imap.logout()

    def folder(self, name: str) -> list[tuple[bytes, set[str]]]:
        """Every message in a folder, as (raw bytes, flags); [] when the folder does not exist."""
        imap = self._login()
        try:
            typ, _ = imap.select(name, readonly=True)
            if typ != "OK":
                return []
            typ, data = imap.uid("SEARCH", "ALL")  # type: ignore[arg-type]
            found: list[tuple[bytes, set[str]]] = []
            for uid in (data[0] or b"").split():
                typ, parts = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")  # type: ignore[arg-type]
                for part in parts:
                    if isinstance(part, tuple):
                        flags = imaplib.ParseFlags(part[0])
                        found.append((part[1], {f.decode() for f in flags}))
            return found
        finally:
            imap.logout()

    def count(self, name: str) -> int:
        return len(self.folder(name))

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in FOLDERS}


class Dovecot:
    """`dovecot -F` as a child process; stop() and start() again keep port and mail."""

    def __init__(self, root: Path, port: int | None = None, extra_config: str = "") -> None:
        self.root = root
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        uid, gid = _mail_owner()
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # dovenull must reach its maildirs through our temp folder (made by
            # tempfile.mkdtemp right under /tmp, so no other folder's mode changes).
            root.chmod(0o711)
            os.chown(root / "mail", uid, gid)
        (root / "dovecot.conf").write_text(_config(root, self.port, extra_config))

    def start(self, timeout: float = 15) -> None:
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"dovecot exited: {err} {self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not answer on port {self.port}: {self.log()}")
            time.sleep(0.05)

    def _children(self) -> list[int]:
        """The master's child processes (imap sessions outlive a stopped master)."""
        assert self.proc is not None
        found = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def stop(self) -> None:
        """Stop the server and end every session it serves: the clients see it go away."""
        if self.proc is not None and self.proc.poll() is None:
            children = self._children()
            self.proc.terminate()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def new_account(self) -> Account:
        """A fresh, empty mailbox user."""
        return Account(self.port, f"support{secrets.token_hex(6)}", PASSWORD)
