"""What a user asked, in platform-neutral terms: who, where, what, and any files."""

from __future__ import annotations

from dataclasses import dataclass, field

from byok.types import UserRef

__all__ = ["Attachment", "Invocation"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the user shared with the command (already downloaded by the adapter)."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """One command as any platform delivers it.

    ``command`` is the name without slash (``byok``, ``ask``, ``summarize``, ``usage``,
    ``help``) and ``text`` what followed it. ``private`` is true in a DM, a modal, the
    console or any place only the user can see. ``thread`` names the conversation for
    history (a Slack thread, a Discord reply chain).
    """

    platform: str
    workspace: str
    user: str
    channel: str
    private: bool
    command: str
    text: str = ""
    attachments: tuple[Attachment, ...] = field(default=())
    thread: str | None = None
    user_name: str | None = None

    @property
    def user_ref(self) -> UserRef:
        return UserRef(self.platform, self.workspace, self.user)
