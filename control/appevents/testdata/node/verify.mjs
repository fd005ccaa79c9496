// Reads one JSON request per line on stdin — {"secret", "headers", "body"} — and answers one
// line per request on stdout: {"ok": true} or {"ok": false, "error": "..."}. It verifies with
// the npm standardwebhooks package, the Standard Webhooks reference verifier.
import { createInterface } from "node:readline";
import { Webhook } from "standardwebhooks";

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    const req = JSON.parse(line);
    new Webhook(req.secret).verify(req.body, req.headers);
    answer = { ok: true };
  } catch (e) {
    answer = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
