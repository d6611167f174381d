"""WeChat's encrypted mode (安全模式): AES-256-CBC bodies signed by `msg_signature`, on `cryptography`.

The account's EncodingAESKey (43 characters, `JIESU_WECHAT_AES_KEY`) is the base64 of the 32-byte AES key; the
IV is the key's first 16 bytes. A plaintext is 16 random bytes, the message's length (4 bytes, big-endian),
the message and the account's AppID (`JIESU_WECHAT_APP_ID`), padded PKCS#7-style to a multiple of 32 bytes.
`msg_signature` is the sha1 of the sorted token, timestamp, nonce and ciphertext (base64), so in this mode the
body itself is signed. Replies are encrypted and signed the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class WechatCryptoError(ValueError):
    """The encrypted message is not one of this account's: bad signature, key, padding or AppID."""


class WechatCrypto:
    """Decrypts and verifies pushes, encrypts and signs replies, for one official account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("the WeChat EncodingAESKey is not base64") from exc
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("the WeChat EncodingAESKey must be the account's 43 characters")
        if not app_id:
            raise ValueError("encrypted mode needs the account's AppID")
        self._token = token
        self._key = key
        self._app_id = app_id.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """`msg_signature`: sha1 of the sorted token, timestamp, nonce and ciphertext."""
        joined = "".join(sorted([self._token, timestamp, nonce, encrypted]))
        return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> bytes:
        """The message inside `encrypted`, once its signature and AppID check out; WechatCryptoError else."""
        expected = self.signature(timestamp, nonce, encrypted).encode()
        if not hmac.compare_digest(expected, msg_signature.encode("utf-8", "surrogatepass")):
            raise WechatCryptoError("bad msg_signature")
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except binascii.Error as exc:
            raise WechatCryptoError("Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise WechatCryptoError("Encrypt is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or len(plain) < 20 + pad:
            raise WechatCryptoError("bad padding")
        body = plain[16:-pad]
        (length,) = struct.unpack(">I", body[:4])
        message, app_id = body[4 : 4 + length], body[4 + length :]
        if len(message) != length or not hmac.compare_digest(app_id, self._app_id):
            raise WechatCryptoError("the message is not for this account's AppID")
        return message

    def encrypt(self, message: bytes) -> str:
        """`message` encrypted for this account (base64)."""
        plain = os.urandom(16) + struct.pack(">I", len(message)) + message + self._app_id
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def reply(self, message: bytes, timestamp: str, nonce: str) -> bytes:
        """The encrypted passive reply carrying `message`."""
        encrypted = self.encrypt(message)
        signature = self.signature(timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{signature}]]>"
            f"</MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        ).encode()
