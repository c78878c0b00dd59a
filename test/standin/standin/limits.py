"""Rate limiting (REST leaky bucket, GraphQL cost bucket) and fault injection."""
import math
import random
import threading
import time

FAULT_KINDS = ("500", "502", "503", "504", "reset", "hang", "slow", "truncated",
               "nonjson", "429")
# Faults that replace the response (request not processed, no bucket slot):
PRE_FAULTS = {"500", "502", "503", "504", "reset", "hang", "nonjson", "429"}
# Faults that damage delivery of the normally processed response:
POST_FAULTS = {"slow", "truncated"}


class Bucket:
    """Shopify REST leaky bucket: used = max(0, used - leak*elapsed)."""

    def __init__(self, size=40, leak=2.0):
        self.size = int(size)
        self.leak = float(leak)
        self.used = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def _drain(self, now):
        self.used = max(0.0, self.used - self.leak * (now - self.last))
        self.last = now

    def take(self):
        """-> (allowed, used_after_float)."""
        with self.lock:
            self._drain(time.monotonic())
            if self.used + 1 > self.size:
                return False, self.used
            self.used += 1
            return True, self.used

    def peek(self):
        with self.lock:
            self._drain(time.monotonic())
            return self.used

    def header(self, used):
        return "%d/%d" % (min(self.size, math.ceil(used - 1e-9)), self.size)

    def to_dict(self):
        return {"size": self.size, "leak": self.leak, "used": round(self.peek(), 3)}


class CostBucket:
    """Shopify GraphQL cost bucket (points; restored at `restore` per second):
    available = min(maximum, available + restore*elapsed).  A disabled bucket
    admits everything and reports itself full (with the default figures)."""
    DEFAULT = {"maximum": 2000, "restore": 100}

    def __init__(self, cfg=DEFAULT):
        self.lock = threading.Lock()
        self.enabled = cfg is not None and cfg.get("enabled", True) is not False
        cfg = cfg if self.enabled else {}
        self.maximum = float(cfg.get("maximum", 2000))
        self.restore = float(cfg.get("restore", 100))
        if self.maximum <= 0 or self.restore < 0:
            raise ValueError("graphql maximum must be > 0 and restore >= 0")
        avail = cfg.get("available")
        self.available = self.maximum if avail is None else float(avail)
        if not 0 <= self.available <= self.maximum:
            raise ValueError("graphql available must be within 0..maximum")
        self.last = time.monotonic()

    def _refill(self, now):
        self.available = min(self.maximum,
                             self.available + self.restore * (now - self.last))
        self.last = now

    def admit(self, requested):
        """-> (allowed, available_after); deducts `requested` if allowed."""
        with self.lock:
            if not self.enabled:
                return True, self.maximum
            self._refill(time.monotonic())
            if requested > self.available:
                return False, self.available
            self.available -= requested
            return True, self.available

    def refund(self, points):
        with self.lock:
            if self.enabled:
                self._refill(time.monotonic())
                self.available = min(self.maximum, self.available + points)
            return self.available if self.enabled else self.maximum

    def peek(self):
        with self.lock:
            if self.enabled:
                self._refill(time.monotonic())
            return self.available if self.enabled else self.maximum

    def throttle_status(self, available):
        return {"maximumAvailable": float(self.maximum),
                "currentlyAvailable": round(float(available), 3),
                "restoreRate": float(self.restore)}

    def to_dict(self):
        return {"enabled": self.enabled, "maximum": self.maximum,
                "restore": self.restore, "available": round(self.peek(), 3)}


class FaultSpec:
    def __init__(self, d):
        kinds = d.get("kinds") or ["503"]
        if isinstance(kinds, str):
            kinds = [kinds]
        kinds = [str(k) for k in kinds]
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad:
            raise ValueError("unknown fault kinds %s (known: %s)"
                             % (bad, ", ".join(FAULT_KINDS)))
        self.kinds = kinds
        self.rate = float(d.get("rate", 0) or 0)
        if not 0 <= self.rate <= 1:
            raise ValueError("rate must be within 0..1")
        self.next = int(d.get("next", 0) or 0)
        self.hang_seconds = float(d.get("hang_seconds", 60))
        self.slow_seconds = float(d.get("slow_seconds", 3))
        self.latency_ms = float(d.get("latency_ms", 0) or 0)
        self.seed = d.get("seed", 1)
        self.rng = random.Random(self.seed)
        self.cursor = 0        # round-robin over kinds for "next"
        self.only_paths = d.get("paths")   # optional list of path substrings

    def empty(self):
        return self.rate == 0 and self.next == 0 and self.latency_ms == 0

    def to_dict(self):
        return {"kinds": self.kinds, "rate": self.rate, "next": self.next,
                "hang_seconds": self.hang_seconds, "slow_seconds": self.slow_seconds,
                "latency_ms": self.latency_ms, "seed": self.seed,
                "paths": self.only_paths}


class Faults:
    """Fault settings keyed by shop domain or '*' (shop-specific wins)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.specs = {}

    def configure(self, d):
        shop = d.get("shop", "*") or "*"
        spec = FaultSpec(d)
        with self.lock:
            if spec.empty():
                if "shop" in d:
                    self.specs.pop(shop, None)
                else:
                    self.specs.clear()
            else:
                self.specs[shop] = spec
            return self.to_dict_locked()

    def to_dict_locked(self):
        return {k: v.to_dict() for k, v in self.specs.items()}

    def to_dict(self):
        with self.lock:
            return self.to_dict_locked()

    def pick(self, domain, path):
        """-> (kind or None, spec or None) for one API request."""
        with self.lock:
            spec = self.specs.get(domain) if domain else None
            if spec is None:
                spec = self.specs.get("*")
            if spec is None:
                return None, None
            if spec.only_paths and not any(s in path for s in spec.only_paths):
                return None, spec if spec.latency_ms else None
            if spec.next > 0:
                spec.next -= 1
                kind = spec.kinds[spec.cursor % len(spec.kinds)]
                spec.cursor += 1
                return kind, spec
            if spec.rate > 0 and spec.rng.random() < spec.rate:
                return spec.rng.choice(spec.kinds), spec
            return None, spec
