"""The reference design from ../shared/seed/python-sse-patterns.txt, as a bench peer.

Written from the seed's description and kept faithful to it on purpose, including the parts
we expect to be slow or lossy: the hub of bounded asyncio.Queues (maxsize 100) where a full
queue is dropped from the channel, the unbounded global replay list scanned on every resume,
`request.is_disconnected()` polled before each queue read, and the heartbeat that only fires
when a queue read times out. Only the publish endpoint and the command line are ours: the seed
has none, and the bench needs one equivalent to the gateway's `POST /publish`.

Run: /usr/bin/python3 bench/peers/python_sse.py --port N --heartbeat 2 --token T
"""

import argparse
import asyncio
import hmac
from collections import defaultdict

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


class EventHub:
    def __init__(self):
        self._channels: dict[str, set[asyncio.Queue]] = defaultdict(set)

    def subscribe(self, channel: str, maxsize: int = 100) -> asyncio.Queue:
        queue = asyncio.Queue(maxsize=maxsize)
        self._channels[channel].add(queue)
        return queue

    def unsubscribe(self, channel: str, queue: asyncio.Queue):
        self._channels[channel].discard(queue)
        if not self._channels[channel]:
            del self._channels[channel]

    async def publish(self, channel: str, event: str):
        dead_queues = []
        for queue in self._channels.get(channel, set()):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                dead_queues.append(queue)
        for q in dead_queues:
            self._channels[channel].discard(q)


hub = EventHub()
app = FastAPI()
# The seed's replay list: (id, data) pairs, unbounded, one for all channels ("in production,
# use Redis or a database"). Each peer process starts fresh for each bench run.
event_store: list[tuple[int, str]] = []
settings = {"heartbeat": 30.0, "token": ""}


async def sse_stream(request: Request, channel: str, last_event_id: int):
    # Replay missed events
    for stored_id, stored_data in event_store:
        if stored_id > last_event_id:
            yield f"id: {stored_id}\ndata: {stored_data}\n\n"

    # Subscribe to live events
    queue = hub.subscribe(channel)
    try:
        while True:
            if await request.is_disconnected():
                break
            try:
                event = await asyncio.wait_for(queue.get(), timeout=settings["heartbeat"])
                yield event
            except asyncio.TimeoutError:
                yield ": heartbeat\n\n"  # Keep connection alive
    finally:
        hub.unsubscribe(channel, queue)


@app.get("/events/{channel}")
async def stream(request: Request, channel: str):
    last_id = int(request.headers.get("Last-Event-ID", "0"))
    return StreamingResponse(
        sse_stream(request, channel, last_id),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "Connection": "keep-alive",
        },
    )


@app.post("/publish")
async def publish(request: Request):
    # The bench's addition: the same contract as the gateway's webhook, bearer token included.
    presented = request.headers.get("Authorization", "")
    if not hmac.compare_digest(presented, f"Bearer {settings['token']}"):
        return JSONResponse({"error": "SSEG_UNAUTHORIZED"}, status_code=401)
    body = await request.json()
    event_id = len(event_store) + 1
    event_store.append((event_id, body["data"]))
    await hub.publish(body["channel"], f"id: {event_id}\ndata: {body['data']}\n\n")
    return {"id": str(event_id)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--heartbeat", type=float, default=30.0)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    settings["heartbeat"] = args.heartbeat
    settings["token"] = args.token
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
