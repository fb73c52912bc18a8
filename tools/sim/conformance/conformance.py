"""Third-party conformance: python-kraken-sdk trades against kraken-sim, unmodified but for
its URLs. Every response and execution it receives is checked. Exit 0 on success."""

import asyncio
import json
import os
import sys
import time
import urllib.request

from kraken.exceptions import KrakenApiLimitExceededError, KrakenInvalidOrderError
from kraken.spot import Market, SpotWSClient, Trade, User

REST, WS = os.environ["SIM_REST"], os.environ["SIM_WS"]
KEY, SECRET = os.environ["SIM_KEY"], os.environ["SIM_SECRET"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def rest_part():
    trade = Trade(key=KEY, secret=SECRET, url=REST)
    user = User(key=KEY, secret=SECRET, url=REST)
    bal = user.get_account_balance()
    check("USD" in bal, "REST Balance lists USD")
    r = trade.create_order(ordertype="limit", side="buy", volume="0.01", pair="XBTUSD", price="60000")
    check(len(r["txid"]) == 1, "REST AddOrder returns a txid")
    txid = r["txid"][0]
    opened = user.get_open_orders()["open"]
    check(txid in opened and opened[txid]["vol"] == "0.01", "REST OpenOrders shows it with string numbers")
    check(trade.cancel_order(txid=txid)["count"] == 1, "REST CancelOrder cancels it")
    q = user.get_orders_info(txid=txid)
    check(q[txid]["status"] == "canceled", "REST QueryOrders says canceled")
    b = trade.create_order_batch(
        orders=[
            {"ordertype": "limit", "type": "buy", "volume": "0.01", "price": "59000"},
            {"ordertype": "limit", "type": "sell", "volume": "0.01", "price": "71000"},
        ],
        pair="XBTUSD",
    )
    check(len(b["orders"]) == 2 and all("txid" in o for o in b["orders"]), "REST AddOrderBatch (JSON body) places both")
    check(trade.cancel_all_orders()["count"] == 2, "REST CancelAll cancels both")


def rest_more():
    market = Market(url=REST)
    trade = Trade(key=KEY, secret=SECRET, url=REST)
    user = User(key=KEY, secret=SECRET, url=REST)
    assets = market.get_assets(assets="XBT")
    check(assets.get("XXBT", {}).get("altname") == "XBT" and assets["XXBT"].get("decimals") == 10,
          "REST Assets keys XBT as XXBT with its decimals")
    pairs = market.get_asset_pairs()
    check(pairs.get("XXBTZUSD", {}).get("wsname") == "XBT/USD", "REST AssetPairs keys and names as Kraken does")
    check(market.get_system_status().get("status") == "online", "REST SystemStatus online")
    r = trade.create_order(ordertype="limit", side="buy", volume="0.01", pair="XBTUSD", price="60000")
    check(r.get("descr", {}).get("order") == "buy 0.01000000 XBTUSD @ limit 60000", "REST AddOrder describes the order")
    txid = r["txid"][0]
    held = user.get_balances().get("ZUSD", {})
    check(float(held.get("hold_trade", "0")) >= 600, "REST BalanceEx holds what the order may spend")
    a = trade.amend_order(txid=txid, limit_price="60010")
    check(bool(a.get("amend_id")), "REST AmendOrder answers an amend_id")
    e = trade.edit_order(txid=txid, pair="XBTUSD", price="60020")
    new = e.get("txid")
    check(new and new != txid and e.get("originaltxid") == txid, "REST EditOrder replaces with a new txid")
    trade.cancel_order(txid=new)
    closed = user.get_closed_orders()["closed"]
    gone = closed.get(new, {})
    check(gone.get("status") == "canceled" and gone.get("reason") and gone.get("closetm", 0) >= gone.get("opentm", 1),
          "REST ClosedOrders says when and why it closed")
    try:
        user.get_orders_info(txid="OAAAAA-BBBBB-CCCCCC")
        check(False, "REST QueryOrders refuses an unknown txid")
    except KrakenInvalidOrderError:
        check(True, "REST QueryOrders refuses an unknown txid (EOrder:Invalid order)")
    check("trades" in user.get_trades_history(), "REST TradesHistory answers")
    req = urllib.request.Request(REST + "/sim/fault", data=json.dumps({"fault": "rest-rate-limit"}).encode(), method="POST")
    urllib.request.urlopen(req).read()
    try:
        user.get_account_balance()
        check(False, "REST calls past the call counter are refused")
    except KrakenApiLimitExceededError:
        check(True, "REST calls past the call counter are refused (EAPI:Rate limit exceeded)")


async def ws_part():
    msgs = []

    async def on_message(m):
        msgs.append(m)

    async def wait_for(pred, what, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            for m in msgs:
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
        check(False, what)
        return None

    client = SpotWSClient(key=KEY, secret=SECRET, callback=on_message, rest_url=REST, ws_url=WS, auth_ws_url=WS)
    await client.start()
    await client.subscribe(params={"channel": "executions", "snap_orders": True, "snap_trades": True}, req_id=1)
    ack = await wait_for(lambda m: m.get("method") == "subscribe" and m.get("req_id") == 1, "executions subscribe ack")
    if ack:
        check(ack["success"] and ack["result"]["maxratecount"] > 0, "subscribe ack carries maxratecount")
    await wait_for(lambda m: m.get("channel") == "executions" and m.get("type") == "snapshot", "executions snapshot")

    await client.send_message({"method": "add_order", "req_id": 2, "params": {
        "order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 60000.0,
        "symbol": "BTC/USD", "cl_ord_id": "pks-1"}})
    ack = await wait_for(lambda m: m.get("method") == "add_order" and m.get("req_id") == 2, "add_order ack")
    oid = None
    if ack:
        check(ack["success"] and ack["result"]["cl_ord_id"] == "pks-1", "add_order ack echoes cl_ord_id")
        oid = ack["result"]["order_id"]
    await wait_for(lambda m: m.get("channel") == "executions" and any(
        d.get("order_id") == oid and d.get("exec_type") == "pending_new" and d.get("symbol") == "BTC/USD" for d in m["data"]),
        "executions pending_new (full frame)")
    await wait_for(lambda m: m.get("channel") == "executions" and any(
        d.get("order_id") == oid and d.get("exec_type") == "new" for d in m["data"]), "executions new")

    await client.send_message({"method": "amend_order", "req_id": 3, "params": {"order_id": oid, "limit_price": 60010.0}})
    ack = await wait_for(lambda m: m.get("method") == "amend_order" and m.get("req_id") == 3, "amend_order ack")
    if ack:
        check(ack["success"] and ack["result"]["order_id"] == oid and ack["result"]["amend_id"], "amend keeps the order id")
    await wait_for(lambda m: m.get("channel") == "executions" and any(
        d.get("order_id") == oid and d.get("exec_type") == "amended" and d.get("limit_price") == 60010.0 for d in m["data"]),
        "executions amended with the new price")

    await client.send_message({"method": "add_order", "req_id": 4, "params": {
        "order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": "60000", "symbol": "BTC/USD"}})
    ack = await wait_for(lambda m: m.get("method") == "add_order" and m.get("req_id") == 4, "string price answered")
    if ack:
        check(not ack["success"] and ack["error"] == "Limit_price field must be a number_float", "a string number is refused like Kraken")

    await client.send_message({"method": "cancel_order", "req_id": 5, "params": {"order_id": [oid]}})
    ack = await wait_for(lambda m: m.get("method") == "cancel_order" and m.get("req_id") == 5, "cancel_order ack")
    if ack:
        check(ack["success"] and ack["result"]["order_id"] == oid, "cancel_order ack names the order")
    await wait_for(lambda m: m.get("channel") == "executions" and any(
        d.get("order_id") == oid and d.get("exec_type") == "canceled" for d in m["data"]), "executions canceled")

    await client.send_message({"method": "batch_add", "req_id": 6, "params": {"symbol": "BTC/USD", "orders": [
        {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 59000.0, "order_userref": 11},
        {"order_type": "limit", "side": "sell", "order_qty": 0.01, "limit_price": 71000.0, "order_userref": 12}]}})
    ack = await wait_for(lambda m: m.get("method") == "batch_add" and m.get("req_id") == 6, "batch_add ack")
    ids = []
    if ack:
        check(ack["success"] and isinstance(ack["result"], list) and len(ack["result"]) == 2, "batch_add result is an array of two")
        ids = [r["order_id"] for r in ack["result"]]
    await client.send_message({"method": "batch_cancel", "req_id": 7, "params": {"orders": ids}})
    ack = await wait_for(lambda m: m.get("method") == "batch_cancel" and m.get("req_id") == 7, "batch_cancel ack")
    if ack:
        check(ack["success"] and ack.get("orders_cancelled") == 2, "batch_cancel cancels both (captured shape)")

    await client.send_message({"method": "ping", "req_id": 8})
    await wait_for(lambda m: m.get("method") == "pong" and m.get("req_id") == 8, "pong")
    check(not client.exception_occur, "the SDK saw no connection exception")
    await client.close()


rest_part()
asyncio.run(ws_part())
rest_more()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
