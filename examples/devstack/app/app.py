"""A tiny web app: counts visits in Redis and records them in PostgreSQL."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

GREETING = "Hello from the devstack"

cache = redis.Redis(host=os.environ.get("REDIS_HOST", "cache"), port=6379)
db = psycopg2.connect(os.environ["DATABASE_URL"])
db.autocommit = True
with db.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, at timestamptz DEFAULT now())")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        hits = cache.incr("hits")
        with db.cursor() as cur:
            cur.execute("INSERT INTO visits DEFAULT VALUES")
            cur.execute("SELECT count(*) FROM visits")
            rows = cur.fetchone()[0]
        body = json.dumps({"greeting": GREETING, "hits": hits, "visits_in_db": rows}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args))


print("listening on :8000")
ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
