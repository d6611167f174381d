"""Kafka's murmur2 key hash (Java's `Utils.murmur2`), as aiokafka's but cheaper.

Every Kafka client's default partitioner puts a keyed record on `(murmur2(key) & 0x7fffffff) % partitions`,
so a citizen's messages land on the same partition whichever client wrote them. aiokafka's pure-Python version
masks every intermediate and reads the key byte by byte, and it runs once per record whose key is not in
the producer's cache — most records on a surge day, whose citizens rarely repeat (docs/performance.md,
"Gateway"). This one reads whole 32-bit words with `struct` and masks only after multiplications.
tests/unit/test_kafka_batching.py holds it to aiokafka's on random keys of every length, and the partitions
to aiokafka's `DefaultPartitioner`.
"""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """The unsigned 32-bit murmur2 hash of `data`, equal to `aiokafka.partitioner.murmur2(data)`."""
    length = len(data)
    h = _SEED ^ length
    whole = length & ~3
    for (word,) in _WORDS.iter_unpack(data[:whole]):
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = length & 3
    if rest:
        if rest == 3:
            h ^= data[whole + 2] << 16
        if rest >= 2:
            h ^= data[whole + 1] << 8
        h = ((h ^ data[whole]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)
