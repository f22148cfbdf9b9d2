// A server that does next to nothing, for measuring the bench client alone:
// `node trivial-server.ts PORT` listens on 127.0.0.1:PORT. GET /healthz answers like the Worker's
// (15 bytes); POST /payload reads the body and answers a fixed search-sized JSON (about 12 KB,
// the size of a cached search answer) with the headers a cache hit carries.
import http from "node:http";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write("usage: node trivial-server.ts PORT\n");
  process.exit(2);
}

const health = Buffer.from(JSON.stringify({ status: "ok" }));
const sentence = "The quick brown fox jumps over the lazy dog while the search engine ranks documents. ";
const payload = Buffer.from(
  JSON.stringify({
    results: Array.from({ length: 10 }, (_, i) => ({
      id: `doc-${i}`,
      chunkId: `chunk-${i}-0`,
      score: 1 / (i + 1),
      metadata: { category: "science" },
      title: `Document ${i}`,
      text: sentence.repeat(13),
    })),
    version: "v1",
    cache: "hit",
    degraded: [],
  }),
);

const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json", "content-length": health.length });
      res.end(health);
    } else if (req.url === "/payload") {
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": payload.length,
        "x-cache": "isolate",
        "server-timing": "cache;dur=0.0, total;dur=0.0",
      });
      res.end(payload);
    } else {
      res.writeHead(404, { "content-length": 0 });
      res.end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => process.stdout.write(`listening on 127.0.0.1:${port}\n`));
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
