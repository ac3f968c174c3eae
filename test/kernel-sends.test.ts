/**
 * The kernel's messages on one socket go out in turn (patches/tslab+1.0.22.patch). zeromq 6
 * refuses a send while an earlier one on the same socket is still waiting to go out (EBUSY);
 * tslab sent without waiting, and a full run of notebook 09 died of that exception, thrown from
 * the "busy" status of the next cell. The sockets here behave as zeromq's do: each send takes a
 * few milliseconds to go out, and a send in the meantime throws.
 */
import * as path from "path";
import { ROOT } from "./support/cli";

/** What the test uses of a tslab message: its fields and the patched send. */
interface Message {
  identity: Buffer[];
  header: Record<string, unknown>;
  parent: Record<string, unknown>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  extra: unknown[];
  signAndSend(key: string, sock: BusySocket): void;
}

interface Jupyter {
  ZmqMessage: new () => Message;
  ZmqServer: { prototype: object };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- tslab's compiled module, as its kernel loads it
const jupyter = require(path.join(ROOT, "node_modules", "tslab", "dist", "jupyter.js")) as Jupyter;

/** A socket that sends as zeromq 6 does: one send at a time, each taking `ms` to go out. (Make it with {@link socket}.) */
class BusySocket {
  /** the `n` of each message's content, in the order they went out */
  readonly sent: number[] = [];
  closed = false;
  private writing = false;

  constructor(private readonly ms = 5) {}

  send(parts: (Buffer | string)[]): Promise<void> {
    if (this.writing) {
      throw Object.assign(new Error("Socket is busy writing; only one send operation may be in progress at any time"), {
        code: "EBUSY",
      });
    }
    if (this.closed) throw new Error("Socket is closed");
    this.writing = true;
    return new Promise((resolve) =>
      setTimeout(() => {
        this.writing = false;
        this.sent.push((JSON.parse(String(parts[parts.length - 1])) as { n: number }).n);
        resolve();
      }, this.ms),
    );
  }

  close(): void {
    this.closed = true;
  }
}

/** A BusySocket that, like zeromq's, takes no new properties. */
function socket<S extends BusySocket>(s: S): S {
  return Object.preventExtensions(s);
}

/** A socket whose second send fails (as a send on a socket zeromq cannot write to would). */
class SecondSendFails extends BusySocket {
  private calls = 0;

  override send(parts: (Buffer | string)[]): Promise<void> {
    return ++this.calls === 2 ? Promise.reject(new Error("no route")) : super.send(parts);
  }
}

/** A status-like message numbered n. */
function message(n: number): Message {
  const m = new jupyter.ZmqMessage();
  Object.assign(m, {
    identity: [],
    header: { msg_type: "status" },
    parent: {},
    metadata: {},
    content: { n },
    extra: [],
  });
  return m;
}

/** Waits until the sends queued so far have gone out (each takes a few milliseconds). */
const settle = (ms = 200): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("the fake socket refuses a second send while the first goes out, as zeromq 6 does", () => {
  const sock = socket(new BusySocket());
  void sock.send(["{}", '{"n":0}']);
  expect(() => sock.send(["{}", '{"n":1}'])).toThrow(/busy writing/);
});

test("messages sent back to back on one socket all go out, in order, none twice", async () => {
  const sock = socket(new BusySocket());
  for (let n = 0; n < 5; n++) expect(() => message(n).signAndSend("key", sock)).not.toThrow();
  await settle();
  expect(sock.sent).toEqual([0, 1, 2, 3, 4]);
  // with nothing waiting, the next message goes at once
  message(5).signAndSend("key", sock);
  message(6).signAndSend("key", sock);
  await settle();
  expect(sock.sent).toEqual([0, 1, 2, 3, 4, 5, 6]);
});

test("a message that cannot be sent is logged, and the ones after it still go", async () => {
  const sock = socket(new SecondSendFails());
  const errors = jest.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    for (let n = 0; n < 3; n++) message(n).signAndSend("key", sock);
    await settle();
    expect(sock.sent).toEqual([0, 2]);
    expect(errors.mock.calls.map((c) => String(c[0]))).toEqual(["tslab: a message was not sent: no route"]);
  } finally {
    errors.mockRestore();
  }
});

test("closing the server waits for the messages still waiting their turn (a shutdown reply)", async () => {
  const server = Object.create(jupyter.ZmqServer.prototype) as Record<string, unknown> & { close(): Promise<void> };
  const busy = (): BusySocket => socket(new BusySocket());
  const shell = busy();
  const sockets = { iopub: busy(), shell, control: busy(), stdin: busy(), hb: busy() };
  Object.assign(server, sockets, { handler: { close: () => undefined } });
  message(0).signAndSend("key", shell);
  message(1).signAndSend("key", shell);
  const closing = server.close();
  expect(shell.closed).toBe(false);
  await closing;
  expect(shell.sent).toEqual([0, 1]);
  expect(Object.values(sockets).every((s) => s.closed)).toBe(true);
});
