"""python-kraken-sdk (3.5.1) as a latency peer for tools/latency.

Usage:
  python_peer.py --ws-base ws://127.0.0.1:PORT --rest-url http://127.0.0.1:PORT2 \
      --n N --warmup W --out FILE [--key K] [--secret S]

Starts a SpotWSClient (authenticated connection only; the SDK appends /v2 to --ws-base and
fetches its WebSocket token from --rest-url via GetWebSocketsToken), then sends W+N add_order
requests one at a time (limit buy 0.01 BTC/USD @ 30000.1, req_id = 1, 2, ...) with
send_message(raw=True) - the SDK's cheapest send path - awaiting each ack (matched by req_id
in the callback) before the next. Writes the last N add -> ack round trips (ns, one per line)
to FILE. The default key/secret suit the reflector, which does not check signatures.
"""

import argparse
import asyncio
import logging
import sys
import time

from kraken.spot import SpotWSClient


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ws-base", required=True, help="ws(s)://host:port, without /v2")
    p.add_argument("--rest-url", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--key", default="k")
    p.add_argument("--secret", default="c2VjcmV0", help="base64")
    return p.parse_args()


async def main(a) -> int:
    ws_base = a.ws_base.rstrip("/")
    if ws_base.endswith("/v2"):
        ws_base = ws_base[: -len("/v2")]
    pending: dict[int, asyncio.Future] = {}

    async def on_message(m):
        if isinstance(m, dict) and m.get("method") == "add_order":
            fut = pending.pop(m.get("req_id"), None)
            if fut is not None and not fut.done():
                fut.set_result(m)
        elif isinstance(m, dict) and "python-kraken-sdk" in m:
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(RuntimeError(str(m)))
        # everything else (executions pending_new/new, heartbeat, status, pong) is ignored

    client = SpotWSClient(
        key=a.key,
        secret=a.secret,
        callback=on_message,
        no_public=True,
        rest_url=a.rest_url,
        ws_url=ws_base,
        auth_ws_url=ws_base,
    )
    await client.start()
    try:
        # The token the SDK fetched for its authenticated connection (what send_message would
        # insert itself with raw=False): ConnectSpotWebsocket.ws_conn_details is the
        # GetWebSocketsToken result.
        conn = client._priv_conn  # pylint: disable=protected-access
        for _ in range(500):
            if conn.ws_conn_details and conn.socket is not None:
                break
            if conn.exception_occur:
                raise RuntimeError("the SDK's connection failed (see its log)")
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("no token / socket after 5 s")
        token = conn.ws_conn_details["token"]

        loop = asyncio.get_running_loop()
        total = a.warmup + a.n
        rtts = []
        for i in range(total):
            req_id = i + 1
            msg = {
                "method": "add_order",
                "params": {
                    "order_type": "limit",
                    "side": "buy",
                    "order_qty": 0.01,
                    "limit_price": 30000.1,
                    "symbol": "BTC/USD",
                    "token": token,
                },
                "req_id": req_id,
            }
            fut = loop.create_future()
            pending[req_id] = fut
            t0 = time.perf_counter_ns()
            await client.send_message(msg, raw=True)
            ack = await asyncio.wait_for(fut, timeout=10)
            t1 = time.perf_counter_ns()
            if not ack.get("success"):
                raise RuntimeError(f"add_order {req_id} rejected: {ack.get('error')}")
            rtts.append(t1 - t0)
        with open(a.out, "w") as f:
            f.write("".join(f"{ns}\n" for ns in rtts[a.warmup:]))
    finally:
        # SDK's close() waits for its reader, which sits in a 10 s recv() timeout; close the
        # socket under it first so the peer exits promptly.
        # (The SDK then logs the closed socket as an error to recover from: silence it.)
        logging.getLogger("kraken").setLevel(logging.CRITICAL)
        conn = client._priv_conn  # pylint: disable=protected-access
        conn.keep_alive = False
        if conn.socket is not None:
            await conn.socket.close()
        await client.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args())))
    except Exception as e:  # pylint: disable=broad-except
        print(f"python_peer: {e!r}", file=sys.stderr)
        sys.exit(1)
