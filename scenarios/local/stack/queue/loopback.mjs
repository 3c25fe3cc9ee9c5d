// Starts fauxqs on 127.0.0.1 only, for the tests and the local stack:
//
//   FAUXQS_PORT=N node loopback.mjs [READY_FILE]
//
// READY_FILE, when given, gets "127.0.0.1:PORT" once fauxqs listens
// (stack.sh waits for it). fauxqs 1.9.2 listens on 0.0.0.0 whatever
// FAUXQS_HOST says (that variable only names the host in the queue URLs it
// hands out), so every listen in this process is pinned to loopback here
// before fauxqs is loaded.
//
// Queue URLs read http://sqs.REGION.127.0.0.1:PORT/000000000000/NAME: not a
// host anything resolves, but fauxqs finds a queue by its exact URL, and the
// clients send every call to their configured endpoint, not to the URL's
// host (the SDK does so whenever an endpoint is set).
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] && typeof args[0] === "object") {
    args[0] = { ...args[0], host: "127.0.0.1" };
  } else if (typeof args[0] === "number" || typeof args[0] === "string") {
    if (typeof args[1] === "string") args[1] = "127.0.0.1";
    else args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};

const { startFauxqs } = await import("fauxqs");
const server = await startFauxqs({
  port: Number(process.env.FAUXQS_PORT || 0),
  host: "127.0.0.1",
  logger: false,
});
console.log(`fauxqs listening on ${server.address}`);
if (process.argv[2]) {
  const fs = await import("node:fs");
  fs.writeFileSync(process.argv[2], `127.0.0.1:${server.port}\n`);
}
