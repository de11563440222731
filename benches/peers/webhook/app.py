"""Peer of the webhook bench (benches/webhooks.rs): a Slack Events webhook in FastAPI doing what
Warmline's does before it answers, and nothing after: check the signature and the 5-minute
window with slack_sdk's SignatureVerifier, then record the event once (SQLite in WAL mode,
INSERT OR IGNORE on the event id, committed before the answer). It runs no dialog turn and
sends no reply; Warmline does both in the background while it is measured.

Run (benches/peers/setup.sh, then `benches/peers/.venv/bin/pip install -r benches/peers/webhook/requirements.txt`):
    SLACK_SIGNING_SECRET=bench-secret-0123456789abcdef PEER_DB=/tmp/peer.db \
    benches/peers/.venv/bin/uvicorn --app-dir benches/peers/webhook app:app --port 8700 --log-level warning
"""

import json
import os
import sqlite3

from fastapi import FastAPI, Request, Response
from slack_sdk.signature import SignatureVerifier

verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
db = sqlite3.connect(os.environ.get("PEER_DB", "peer.db"), check_same_thread=False, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS inbound (event_id TEXT PRIMARY KEY, body TEXT NOT NULL)")
app = FastAPI()


@app.post("/webhooks/slack/events")
async def events(request: Request):
    body = (await request.body()).decode()
    if not verifier.is_valid(
        body=body,
        timestamp=request.headers.get("x-slack-request-timestamp", ""),
        signature=request.headers.get("x-slack-signature", ""),
    ):
        return Response(status_code=401)
    event = json.loads(body)
    if event.get("type") == "url_verification":
        return {"challenge": event.get("challenge")}
    db.execute("INSERT OR IGNORE INTO inbound (event_id, body) VALUES (?, ?)", (event.get("event_id"), body))
    return Response(status_code=200)
