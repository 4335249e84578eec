"""A real Jupyter client (Debian's jupyter_client) driving the cxr-csharp kernel for the protocol tests.

Started once per test run by KernelFixture. Reads one JSON command per line on stdin, answers one JSON
line on stdout. The kernelspec is found through JUPYTER_PATH (the fixture installs it in a temp dir).
Commands: start, execute, complete, inspect, is_complete, kernel_info, comm_info, bad_signature, shutdown.
"""
import json
import os
import sys
import time
import uuid

from jupyter_client.manager import KernelManager
from jupyter_client.session import Session

km = None
kc = None


def reply(obj):
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def plain(msg):
    return {"msg_type": msg["header"]["msg_type"], "content": msg["content"], "date": str(msg["header"]["date"]),
            "parent_id": msg["parent_header"].get("msg_id")}


def collect(msg_id, timeout, on_stream=None):
    """iopub messages of one request until its idle status; on_stream(text) may act mid-cell."""
    messages = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.05, deadline - time.time()))
        except Exception:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(plain(msg))
        if msg["header"]["msg_type"] == "stream" and on_stream:
            on_stream(msg["content"]["text"])
        if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
    raise TimeoutError(f"no idle status for {msg_id} within {timeout} s; got {[m['msg_type'] for m in messages]}")


def shell_reply(msg_id, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = kc.get_shell_msg(timeout=max(0.05, deadline - time.time()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return plain(msg)
    raise TimeoutError(f"no shell reply for {msg_id}")


def request(send, timeout=60, on_stream=None):
    msg_id = send()
    iopub = collect(msg_id, timeout, on_stream)
    return {"reply": shell_reply(msg_id, timeout), "iopub": iopub}


def handle(cmd):
    global km, kc
    op = cmd["op"]
    if op == "start":
        km = KernelManager(kernel_name=cmd.get("kernel", "cxr-csharp"))
        km.start_kernel(cwd=cmd.get("cwd"))
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=cmd.get("timeout", 90))
        return {"ok": True, "key_length": len(km.session.key)}
    if op == "execute":
        interrupt_on = cmd.get("interrupt_on")
        touch_on = cmd.get("touch_on")
        seen = {"interrupted": False, "touched": False}

        def on_stream(text):
            if interrupt_on and interrupt_on in text and not seen["interrupted"]:
                seen["interrupted"] = True
                km.interrupt_kernel()
            if touch_on and touch_on["text"] in text and not seen["touched"]:
                seen["touched"] = True
                open(touch_on["path"], "w").close()

        result = request(lambda: kc.execute(cmd["code"], allow_stdin=False, stop_on_error=False),
                         cmd.get("timeout", 60), on_stream)
        result.update(seen)
        return result
    if op == "execute_with_input":
        # The cell asks for a line (Console.ReadLine); the client answers on the stdin channel.
        msg_id = kc.execute(cmd["code"], allow_stdin=True)
        prompt = kc.get_stdin_msg(timeout=cmd.get("timeout", 60))
        kc.input(cmd["answer"])
        iopub = collect(msg_id, cmd.get("timeout", 60))
        return {"reply": shell_reply(msg_id, 60), "iopub": iopub, "input_request": plain(prompt)}
    if op == "execute_queued":
        # Several cells sent at once (JupyterLab's "run all"): after a failing one the rest are aborted.
        ids = [kc.execute(code, stop_on_error=True) for code in cmd["codes"]]
        return {"replies": [shell_reply(i, 60) for i in ids]}
    if op == "restart":
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=cmd.get("timeout", 120))
        return {"ok": True, "alive": km.is_alive()}
    if op == "complete":
        return request(lambda: kc.complete(cmd["code"], cmd.get("cursor_pos")))
    if op == "inspect":
        return request(lambda: kc.inspect(cmd["code"], cmd.get("cursor_pos")))
    if op == "is_complete":
        return request(lambda: kc.is_complete(cmd["code"]))
    if op == "kernel_info":
        return request(lambda: kc.kernel_info())
    if op == "comm_info":
        return request(lambda: kc.comm_info())
    if op == "bad_signature":
        # Same connection, wrong key: the kernel must drop the request (no reply, no status).
        bad = Session(key=b"not-the-key", username="test")
        socket = kc.shell_channel.socket
        msg = bad.msg("kernel_info_request", {})
        bad.send(socket, msg)
        deadline = time.time() + cmd.get("wait", 2.0)
        answered = False
        while time.time() < deadline:
            try:
                got = kc.get_shell_msg(timeout=0.1)
                if got["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                    answered = True
            except Exception:
                pass
        return {"answered": answered}
    if op == "shutdown":
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        return {"ok": True, "alive": km.is_alive()}
    raise ValueError(f"unknown op {op}")


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        reply(handle(json.loads(line)))
    except Exception as e:  # reported to the C# test, which fails with it
        reply({"error": f"{type(e).__name__}: {e}"})
    if json.loads(line)["op"] == "shutdown":
        break
