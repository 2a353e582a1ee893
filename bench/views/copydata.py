"""PostgreSQL COPY data for the views bench, made in bulk: UUIDs, timestamps, NULL.

Formatting one value at a time with ``datetime.isoformat`` or ``uuid.UUID`` would cost
more than the database spends loading it; these build many at once from tables.

The largest tables go in COPY's binary format (``write_row`` with the types set), which
spares the server parsing text: a timestamptz travels as its binary form, an int8 of
microseconds since 2000-01-01 UTC (``micros``), and a json value as its text.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]
Texts = npt.NDArray[np.object_]

NULL = "\\N"
DAY = 86_400
POSTGRES_EPOCH = 946_684_800  # 2000-01-01T00:00:00Z in Unix seconds
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 12, 16, 20)  # positions in the 32 hex digits before which a dash goes


def uuids(rng: np.random.Generator, count: int, *, ordered: bool = False) -> Bytes:
    """``count`` random version-4 UUIDs as a (count, 16) byte array, sorted if asked
    (byte order is the order of their text)."""
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    if ordered and count:
        raw = raw[np.lexsort(raw.T[::-1])]
    return raw


def uuid_matrix(raw: Bytes) -> Bytes:
    """The canonical text of each UUID row (lower-case hex, dashed), as 36 bytes a row."""
    digits = np.empty((len(raw), 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    return np.ascontiguousarray(np.insert(digits, _DASHES, ord("-"), axis=1))


def uuid_texts(raw: Bytes) -> list[str]:
    """The canonical text of each UUID row, as strings."""
    if not len(raw):
        return []
    return [b.decode("ascii") for b in uuid_matrix(raw).view("S36").ravel().tolist()]


def random_bytes(rng: np.random.Generator, count: int, size: int = 32) -> list[bytes]:
    """``count`` random byte strings of ``size`` bytes (salts, commitments)."""
    data = rng.bytes(size * count)
    return [data[i : i + size] for i in range(0, size * count, size)]


def micros(epochs: Ints) -> list[int]:
    """Unix seconds as timestamptz's binary form: microseconds since 2000-01-01 UTC."""
    shifted: Ints = (np.asarray(epochs, dtype=np.int64) - POSTGRES_EPOCH) * 1_000_000
    return shifted.tolist()  # type: ignore[no-any-return]


def nullable(values: npt.NDArray[np.float64]) -> list[float | None]:
    """Numbers for a binary COPY, NaN as NULL."""
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out.tolist()  # type: ignore[no-any-return]


class Clock:
    """Epoch seconds as RFC 3339 UTC text (``2026-11-25T09:30:00Z``), from a table of
    days around ``now`` and one of the seconds of a day."""

    def __init__(self, now: datetime, days_before: int = 1_200, days_after: int = 800) -> None:
        self.now = int(now.timestamp())
        self.first_day = self.now // DAY - days_before
        count = days_before + days_after
        days = np.arange(self.first_day, self.first_day + count).astype("datetime64[D]")
        self._days = np.array([f"{d}T" for d in np.datetime_as_string(days)], dtype=object)
        seconds = [
            f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)
        ]
        self._seconds = np.array(seconds, dtype=object)
        self._iso_seconds = np.array([s[:-1] + "+00:00" for s in seconds], dtype=object)

    def texts(self, epochs: Ints) -> Texts:
        """The text of each of ``epochs`` (seconds since 1970, UTC)."""
        day, second = np.divmod(np.asarray(epochs, dtype=np.int64), DAY)
        out: Texts = self._days[day - self.first_day] + self._seconds[second]
        return out

    def iso(self, epochs: Ints) -> Texts:
        """As ``texts``, in ``datetime.isoformat``'s form (``...T09:30:00+00:00``)."""
        day, second = np.divmod(np.asarray(epochs, dtype=np.int64), DAY)
        out: Texts = self._days[day - self.first_day] + self._iso_seconds[second]
        return out

    def before(self, seconds: Ints) -> Texts:
        """The text of ``now`` minus each of ``seconds``."""
        return self.texts(self.now - np.asarray(seconds, dtype=np.int64))


SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # binary COPY: signature, flags, extension
TRAILER = b"\xff\xff"
_NULL_LENGTH = np.frombuffer(b"\xff\xff\xff\xff", dtype=np.uint8)


class Binary:
    """Rows in COPY's binary format, built a column at a time with numpy.

    Each field is a 4-byte length and its bytes (a NULL is length -1, no bytes). Every
    column is laid out in a slot as wide as its longest value, with a mask of the bytes
    in use; the rows are then the masked bytes, in order: no Python work per row."""

    def __init__(self, rows: int, columns: int) -> None:
        self.rows = rows
        count = np.frombuffer(columns.to_bytes(2, "big"), dtype=np.uint8)
        self.slots: list[Bytes] = [np.broadcast_to(count, (rows, 2))]
        self.masks: list[npt.NDArray[np.bool_]] = [np.ones((rows, 2), dtype=np.bool_)]

    def _add(self, data: Bytes, lengths: Ints) -> None:
        """A column: its values as a (rows, width) byte matrix and their lengths (-1 is
        NULL)."""
        header = np.asarray(lengths, dtype=">i4").view(np.uint8).reshape(self.rows, 4)
        self.slots += [header, data]
        used = np.arange(data.shape[1]) < np.maximum(lengths, 0)[:, None]
        self.masks += [np.ones((self.rows, 4), dtype=np.bool_), used]

    def matrix(self, data: Bytes) -> Binary:
        """Fixed-width text or bytes (UUIDs, bytea), a (rows, width) matrix."""
        self._add(data, np.full(self.rows, data.shape[1]))
        return self

    def text(self, values: list[str] | Texts | npt.NDArray[np.bytes_]) -> Binary:
        """Text (varchar, text, json), ASCII, without NULLs."""
        raw = np.asarray(values, dtype="S")
        return self.nullable_text(raw, np.ones(self.rows, dtype=np.bool_))

    def nullable_text(
        self, values: npt.NDArray[np.bytes_], present: npt.NDArray[np.bool_]
    ) -> Binary:
        width = max(values.dtype.itemsize, 1)
        raw = values.astype(f"S{width}")
        lengths = np.where(present, np.strings.str_len(raw), -1)
        self._add(raw.view(np.uint8).reshape(self.rows, width), lengths)
        return self

    def float8(self, values: npt.NDArray[np.float64]) -> Binary:
        """Doubles, NaN as NULL."""
        data = np.asarray(values, dtype=">f8").view(np.uint8).reshape(self.rows, 8)
        self._add(data, np.where(np.isnan(values), -1, 8))
        return self

    def integer(self, values: Ints, dtype: str = ">i8") -> Binary:
        """int8 (``>i8``) or int4 (``>i4``)."""
        data = np.asarray(values).astype(dtype)
        width = data.dtype.itemsize
        return self.matrix(data.view(np.uint8).reshape(self.rows, width))

    def timestamp(self, epochs: Ints) -> Binary:
        """timestamptz from Unix seconds: microseconds since 2000-01-01 UTC."""
        return self.integer((np.asarray(epochs) - POSTGRES_EPOCH) * 1_000_000)

    def null(self) -> Binary:
        self.slots.append(np.broadcast_to(_NULL_LENGTH, (self.rows, 4)))
        self.masks.append(np.ones((self.rows, 4), dtype=np.bool_))
        return self

    def build(self) -> bytes:
        if not self.rows:
            return b""
        data = np.concatenate(self.slots, axis=1)
        mask = np.concatenate(self.masks, axis=1)
        return bytes(data[mask].data)


def binary_rows(uuids: list[str], names: list[str], texts: list[str]) -> bytes:
    """Binary COPY rows of three text columns (a UUID, a name, and a long text of any
    length such as a view's JSON): built as one latin-1 string, which costs less than
    numpy slots as wide as the longest text. The texts must be ASCII (as the bench's
    are by construction: keys, numbers, timestamps, client ids): latin-1 would write
    other characters wrongly."""
    head = "\x00\x03" + _length(36)
    named = {name: _length(len(name)) + name for name in set(names)}
    joined = "".join(
        [
            f"{head}{u}{named[n]}{_length(len(t))}{t}"
            for u, n, t in zip(uuids, names, texts, strict=True)
        ]
    )
    return joined.encode("latin-1")


@cache
def _length(size: int) -> str:
    """A binary COPY field's length: 4 bytes, big-endian, as latin-1 text."""
    return size.to_bytes(4, "big").decode("latin-1")


def lines(*columns: list[str] | Texts) -> str:
    """COPY text of rows given column by column (each a list or an object array)."""
    listed = [c if isinstance(c, list) else c.tolist() for c in columns]
    return "".join(["\t".join(row) + "\n" for row in zip(*listed, strict=True)])
