"""Drive one session of the project kernel through jupyter_client, for the tests.

Usage: kernel_session.py < SCRIPT.json

SCRIPT is {"kernel": NAME, "root": FOLDER, "results": FILE, "timeout": SECONDS,
"steps": [...]}; the kernel is found through JUPYTER_PATH like in Jupyter, and
its own output goes to FOLDER/kernel.log. Each step is one of:

  {"exec": CODE}                 run a cell and wait for its reply
  {"exec": CODE, "wait": false}  send a cell and go on (file changes while it runs)
  {"await": true}                wait for the reply of the cell sent without waiting
  {"write": PATH, "text": TEXT}  write a file (parent folders made), PATH relative to "root"
  {"remove": PATH}               remove a file
  {"rename": [FROM, TO]}         rename a file
  {"sleep": SECONDS}             let the kernel see file events (they arrive asynchronously)

FILE receives {"results": [...], "fatal": ...}: one object per cell, in order,
{"code", "status", "stdout", "stderr", "error", "displays"}. A kernel that dies
or a cell that times out ends the session early; "fatal" then says why. One
progress line per cell goes to stderr. Run with Debian's /usr/bin/python3.
"""
import json
import os
import signal
import sys
import time
from queue import Empty

from jupyter_client.manager import start_new_kernel


def collect(client, msg_id, code, timeout):
    """Outputs and reply of one cell: iopub messages until the kernel is idle again."""
    result = {"code": code, "status": None, "stdout": "", "stderr": "", "error": None, "displays": []}
    deadline = time.monotonic() + timeout
    idle = False
    while not idle:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"cell did not finish within {timeout} s: {code[:60]!r}")
        try:
            msg = client.get_iopub_msg(timeout=left)
        except Empty:
            continue
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            result[content["name"]] += content["text"]
        elif kind in ("display_data", "update_display_data", "execute_result"):
            result["displays"].append(content.get("data", {}))
        elif kind == "error":
            result["error"] = f"{content.get('ename')}: {content.get('evalue')}"
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    while True:
        try:
            reply = client.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
        except Empty:
            raise TimeoutError(f"no reply to the cell within {timeout} s: {code[:60]!r}") from None
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            result["status"] = reply["content"].get("status")
            return result


STARTED = time.monotonic()


def log(result):
    """One progress line on stderr per cell (shown when a test fails)."""
    first = result["code"].strip().splitlines()[-1][:60]
    print(f"[{time.monotonic() - STARTED:6.1f} s] {result['status']}: {first}", file=sys.stderr, flush=True)


def apply_file_step(root, step):
    """Performs a write, remove or rename step; returns whether the step was one."""
    if "write" in step:
        target = os.path.join(root, step["write"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as f:
            f.write(step["text"])
    elif "remove" in step:
        os.remove(os.path.join(root, step["remove"]))
    elif "rename" in step:
        src, dst = step["rename"]
        os.replace(os.path.join(root, src), os.path.join(root, dst))
    elif "sleep" in step:
        time.sleep(step["sleep"])
    else:
        return False
    return True


def run(script):
    root = script["root"]
    timeout = script.get("timeout", 300)
    results = []
    manager = client = None
    pending = None
    try:
        with open(os.path.join(root, "kernel.log"), "ab") as kernel_log:
            manager, client = start_new_kernel(
                kernel_name=script["kernel"], startup_timeout=timeout, stdout=kernel_log, stderr=kernel_log
            )
        for step in script["steps"]:
            if apply_file_step(root, step):
                continue
            if "exec" in step:
                msg_id = client.execute(step["exec"], store_history=True)
                if step.get("wait", True):
                    results.append(collect(client, msg_id, step["exec"], timeout))
                    log(results[-1])
                    if results[-1]["status"] == "error":
                        # tslab aborts what arrives in the 200 ms after an error (a Run All stops there)
                        time.sleep(0.4)
                else:
                    pending = (msg_id, step["exec"])
            elif "await" in step and pending:
                results.append(collect(client, pending[0], pending[1], timeout))
                log(results[-1])
                pending = None
        return {"results": results, "fatal": None}
    except (TimeoutError, RuntimeError) as e:
        return {"results": results, "fatal": str(e)}
    finally:
        if client is not None:
            client.stop_channels()
        if manager is not None and manager.has_kernel:
            manager.shutdown_kernel(now=True)


def main():
    # a test that gives up sends SIGTERM: shut the kernel down on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    script = json.load(sys.stdin)
    outcome = run(script)
    tmp = script["results"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(outcome, f)
    os.replace(tmp, script["results"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
