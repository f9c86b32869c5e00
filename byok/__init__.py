"""byok: the bring-your-own-key LLM engine behind byok-bot.

Usable without any chat platform. The public surface is re-exported here.
"""

from byok.errors import ByokError
from byok.secret import Secret
from byok.types import ChatMessage, ChatRequest, ChatResult, Chunk, ModelRef, Usage, UserRef

__all__ = [
    "ByokError",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "Chunk",
    "ModelRef",
    "Secret",
    "Usage",
    "UserRef",
]
