/**
 * The yardstick of the proxy benchmarks: the least a proxy can do in Node — node:http in, one
 * keep-alive undici pool out — with no framework, auth, validation, rate limit, log or metrics, but
 * sending the same upstream headers as the gatehouse route under test. Its figures are the ceiling any
 * proxy written in Node reaches on the same machine. `UPSTREAM` is the upstream's origin; prints
 * `listening <port>`.
 *
 * `MODE=completions` (default): reads the body and POSTs it to the same path upstream
 * (`/v2/code/completions`, `/v2/code/generations`) with the headers gatehouse sends the AI gateway (a
 * Bearer JWT, the identity and feature headers, a request id, the client's forwarded headers); event
 * streams are piped back as they arrive.
 * `MODE=stream`: passes any request on as a proxy route does — method, path minus `STRIP` and query;
 * the client's headers minus hop-by-hop ones and credentials, plus X-Forwarded-*, X-Request-Id and a
 * Bearer identity JWT; the body streamed both ways.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';

const upstream = new Pool(process.env.UPSTREAM!, { connections: Number(process.env.CONNECTIONS ?? 256) });
const MODE = process.env.MODE ?? 'completions';
const STRIP = process.env.STRIP ?? '';
/**
 * Tokens of the sizes gatehouse's are (RS256, 2048-bit key; the AI gateway's claims, or a proxy route's
 * identity claims): signed once, reused, as gatehouse reuses its.
 */
const JWT = `Bearer ${'h'.repeat(106)}.${'p'.repeat(435)}.${'s'.repeat(342)}`;
const IDENTITY_JWT = `Bearer ${'h'.repeat(106)}.${'p'.repeat(300)}.${'s'.repeat(342)}`;
/**
 * Exactly the headers gatehouse sends the AI gateway for a completion (its names, spelling and value
 * sizes: plugins/code-suggestions' identity headers, a 64-hex global user id), in its order; the
 * request id and the client's forwarded headers are added per request, as gatehouse adds them.
 */
const COMPLETION_HEADERS = {
  'x-gitlab-global-user-id': 'f'.repeat(64),
  'x-gitlab-user-id': '2',
  'x-gitlab-instance-id': randomUUID(),
  'x-gitlab-host-name': '127.0.0.1',
  'x-gitlab-realm': 'self-managed',
  'x-gitlab-deployment-type': 'self-managed',
  'x-gitlab-version': '17.11.0',
  'X-Gitlab-Authentication-Type': 'oidc',
  'x-gitlab-subject-type': 'human',
  'x-gitlab-feature-enablement-type': 'duo_pro',
  'x-gitlab-enabled-instance-verbose-ai-logs': 'false',
  'X-Gitlab-Model-Prompt-Cache-Enabled': 'true',
  'X-Gitlab-Is-Team-Member': 'false',
  authorization: JWT,
};
/** The client's headers gatehouse passes on to the AI gateway (plugins/code-suggestions/proxy.ts). */
const FORWARDED = ['user-agent', 'x-gitlab-language-server-version', 'x-supports-sse-streaming', 'accept'];

/**
 * Copied one by one: spread into a literal (`{ ...COMPLETION_HEADERS, … }`), the same headers cost this
 * proxy 16 µs more main-thread CPU per request (96 against 80 µs, five side-by-side rounds).
 */
function completionHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name in COMPLETION_HEADERS) headers[name] = COMPLETION_HEADERS[name as keyof typeof COMPLETION_HEADERS];
  headers['content-type'] = 'application/json';
  headers['x-request-id'] = randomUUID();
  headers['x-gitlab-unit-primitive'] = req.url === '/v2/code/generations' ? 'generate_code' : 'complete_code';
  headers['x-gitlab-feature-enabled-by-namespace-ids'] = '2';
  headers['x-gitlab-enabled-feature-flags'] = 'code_suggestions_context';
  const incoming = req.headers;
  for (const name of FORWARDED) {
    const value = incoming[name];
    if (typeof value === 'string') headers[name] = value;
  }
  for (const name in incoming) {
    const value = incoming[name];
    if (name.startsWith('x-gitlab-cs-') && typeof value === 'string') headers[name] = value;
  }
  return headers;
}
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization', 'private-token', 'cookie', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate']);

function streamHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!DROPPED.has(name)) headers[name] = raw[i + 1];
  }
  headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-host'] = req.headers.host ?? '';
  headers['x-request-id'] = randomUUID();
  headers.authorization = IDENTITY_JWT;
  return headers;
}

const server = createServer((req, res) => {
  if (MODE === 'stream') {
    const url = req.url!;
    const path = STRIP && url.startsWith(STRIP) ? url.slice(STRIP.length) || '/' : url;
    const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
    upstream
      .request({ path, method: req.method as 'GET', headers: streamHeaders(req), body: hasBody ? req : null })
      .then((answer) => {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers)) if (!HOP.has(name) && value !== undefined) headers[name] = value;
        res.writeHead(answer.statusCode, headers);
        answer.body.pipe(res);
      })
      .catch(() => res.writeHead(502).end());
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const answer = await upstream.request({ path: req.url!, method: 'POST', headers: completionHeaders(req), body: Buffer.concat(chunks) });
      const type = answer.headers['content-type'];
      if (type === 'text/event-stream') {
        res.writeHead(answer.statusCode, { 'content-type': type });
        answer.body.pipe(res);
        return;
      }
      const body = Buffer.from(await answer.body.arrayBuffer());
      res.writeHead(answer.statusCode, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(502).end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
