"""Per-shop request statistics exposed by GET /_control/stats."""
import collections
import threading
import time

LOG_CAP = 20000
UNAUTH = "_unauthenticated"


class ShopStats:
    def __init__(self):
        self.requests = 0
        self.by_status = collections.Counter()
        self.throttled_429 = 0
        self.faults_injected = collections.Counter()
        self.connections = set()
        self.max_bucket_used = 0.0
        self.bucket_overflows = 0
        self.notes = collections.Counter()
        self.graphql_requests = 0
        self.throttled_graphql = 0
        self.max_cost_exceeded = 0
        self.invalid_graphql = 0
        self.bulk_downloads = 0
        self.log = collections.deque(maxlen=LOG_CAP)

    def to_dict(self, with_log=True):
        d = {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "throttled_429": self.throttled_429,
            "faults_injected": dict(self.faults_injected),
            "connections": len(self.connections),
            "max_bucket_used": round(self.max_bucket_used, 3),
            "bucket_overflows": self.bucket_overflows,
            "notes": dict(self.notes),
            "graphql_requests": self.graphql_requests,
            "throttled_graphql": self.throttled_graphql,
            "max_cost_exceeded": self.max_cost_exceeded,
            "invalid_graphql": self.invalid_graphql,
            "bulk_downloads": self.bulk_downloads,
        }
        if with_log:
            d["requests_log"] = list(self.log)
        return d


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.shops = {}
        self.reset_at = time.monotonic()

    def _get(self, key):
        s = self.shops.get(key)
        if s is None:
            s = self.shops[key] = ShopStats()
        return s

    def ensure(self, key):
        with self.lock:
            self._get(key)

    def record(self, key, conn_id, method, path, query, status, bucket_used=None,
               fault=None, throttled=False, notes=(), kind=None, extra=None,
               arrived=None):
        """status 0 = no HTTP response (reset/hang).  kind "graphql": extra may
        carry throttled/max_cost/invalid flags and the cost bucket's "available" after
        the request (logged in the last column instead of the REST bucket).
        arrived: the monotonic time the request was read (before any latency);
        the entry's first column is the time it was answered."""
        now = time.monotonic()
        with self.lock:
            s = self._get(key or UNAUTH)
            s.requests += 1
            if status:
                s.by_status[status] += 1
            if throttled:
                s.throttled_429 += 1
                s.bucket_overflows += 1
            if fault:
                s.faults_injected[fault] += 1
            s.connections.add(conn_id)
            if bucket_used is not None and bucket_used > s.max_bucket_used:
                s.max_bucket_used = bucket_used
            for n in notes:
                s.notes[n] += 1
            last = bucket_used
            if kind == "graphql":
                s.graphql_requests += 1
                extra = extra or {}
                s.throttled_graphql += bool(extra.get("throttled"))
                s.max_cost_exceeded += bool(extra.get("max_cost"))
                s.invalid_graphql += bool(extra.get("invalid"))
                last = extra.get("available")
            elif kind == "bulk":
                s.bulk_downloads += 1
            s.log.append([round(now, 6), method, path, query, status,
                          None if last is None else round(last, 3),
                          round(arrived if arrived is not None else now, 6)])

    def snapshot(self, with_log=True, shop=None):
        with self.lock:
            shops = {k: v.to_dict(with_log) for k, v in self.shops.items()
                     if shop is None or k == shop}
        return {"now": round(time.monotonic(), 6),
                "since_reset": round(time.monotonic() - self.reset_at, 3),
                "shops": shops}

    def reset(self):
        with self.lock:
            keys = list(self.shops)
            self.shops = {k: ShopStats() for k in keys}
            self.reset_at = time.monotonic()
