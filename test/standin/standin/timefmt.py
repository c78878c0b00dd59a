"""Timestamp helpers shared by every renderer.

Catalog timestamps are stored as integer epoch seconds.  REST renders them in
"shop local" form with an offset (``2026-07-01T10:20:30-04:00``); to exercise
client parsing the offset varies per entity and per hour (deterministically,
so the control API's expected rows match what was served byte for byte).
"""
import datetime
import functools
import re
import time

# Offsets in minutes; includes half/quarter-hour zones on purpose.
OFFSETS = (-240, -300, 0, 330, 540, -420, 60, -210, 825, 600, -600, 120)


def offset_for(key, epoch):
    return OFFSETS[(key + epoch // 3600) % len(OFFSETS)]


@functools.lru_cache(maxsize=1 << 16)
def _fmt(epoch, off):
    t = time.gmtime(epoch + off * 60)
    a = abs(off)
    return "%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
        "+" if off >= 0 else "-", a // 60, a % 60)


def fmt_ts(epoch, key=0):
    """Render epoch seconds as REST does (offset chosen from key+epoch)."""
    if epoch is None:
        return None
    return _fmt(epoch, offset_for(key, epoch))


def fmt_utc(epoch):
    """ISO 8601 UTC with Z (the GraphQL DateTime form)."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"(?:(?P<z>[Zz])|(?P<off>[+-]\d{2}(?::?\d{2})?)|(?P<sp> \d{2}(?::?\d{2})?))?$")


class TsParse:
    __slots__ = ("epoch", "plus_as_space", "naive")

    def __init__(self, epoch, plus_as_space, naive):
        self.epoch = epoch
        self.plus_as_space = plus_as_space
        self.naive = naive


def parse_ts(s, shop_offset_min):
    """Parse an ISO 8601 filter value the way Shopify (Rails) accepts it.

    * ``Z`` / ``+hh:mm`` / ``-hh:mm`` / ``+hhmm`` offsets are honoured.
    * No offset (or a date only) means shop-local time.
    * ``2026-01-01T00:00:00 00:00`` -- an unencoded ``+`` that the query
      decoder turned into a space -- is accepted like Rails does: the
      dangling ``00:00`` is ignored and the time is read as shop-local.
      The result carries ``plus_as_space`` so the server can count it.
    Raises ValueError for anything else.
    """
    m = _TS_RE.match(s.strip("\t\r\n") if s else "")
    if not m:
        raise ValueError("unparsable time %r" % s)
    y, mo, d, hh, mi, ss, frac = m.group(1, 2, 3, 4, 5, 6, 7)
    dt = datetime.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0),
                           int(ss or 0))   # raises ValueError on bad ranges
    frac_s = float("0." + frac) if frac else 0.0
    if m.group("z"):
        off = 0
        naive = False
    elif m.group("off"):
        o = m.group("off")
        sign = -1 if o[0] == "-" else 1
        digits = o[1:].replace(":", "")
        oh = int(digits[:2])
        om = int(digits[2:4]) if len(digits) >= 4 else 0
        if oh > 14 or om > 59:
            raise ValueError("bad offset %r" % o)
        off = sign * (oh * 60 + om)
        naive = False
    else:
        off = shop_offset_min
        naive = True
    epoch = dt.replace(tzinfo=datetime.timezone.utc).timestamp() - off * 60 + frac_s
    return TsParse(epoch, bool(m.group("sp")), naive)
