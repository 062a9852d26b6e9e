/**
 * `npm run bench:oauth`: what an OAuth access token costs on the API next to a personal access token.
 * Boots the built gatehouse on a fresh SQLite file, signs root in through the pages, runs the code flow
 * for an application, then loads `GET /api/v4/user` with each token in alternating rounds (autocannon in
 * its own process). Figures: requests/s and p99 of each, and their ratio (target ≥ 0.9: both resolve
 * from an in-process cache after the first request).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DURATION_S, ROOT, ROUNDS, WARMUP_S, freePort, load, startProcess, stop, runBenchmark, NODE_FLAGS } from './lib.js';

const ROOT_TOKEN = 'glpat-bench-root-token-000000000000';
const PASSWORD = 'bench-password-0000';
const REDIRECT = 'http://127.0.0.1/callback';

/** The code flow as a browser without JavaScript runs it: cookies kept, redirects read, forms posted. */
async function oauthToken(base: string): Promise<string> {
  const cookies = new Map<string, string>();
  const send = async (method: string, path: string, form?: Record<string, string>) => {
    const response = await fetch(`${base}${path}`, {
      method,
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form) : undefined,
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  };
  const api = (method: string, path: string, body: unknown) =>
    fetch(`${base}/api/v4${path}`, { method, headers: { 'PRIVATE-TOKEN': ROOT_TOKEN, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
  const root = (await fetch(`${base}/api/v4/user`, { headers: { 'PRIVATE-TOKEN': ROOT_TOKEN } }).then((r) => r.json())) as { id: number; username: string };
  await api('PUT', `/users/${root.id}`, { password: PASSWORD });
  const client = (await api('POST', '/applications', { name: 'bench', redirect_uri: REDIRECT, scopes: 'api', trusted: true })) as { application_id: string; secret: string };
  const csrf = (text: string) => /name="authenticity_token" value="([^"]+)"/.exec(text)![1];
  const form = await send('GET', '/users/sign_in');
  const signedIn = await send('POST', '/users/sign_in', { authenticity_token: csrf(form.text), 'user[login]': root.username, 'user[password]': PASSWORD });
  if (signedIn.status !== 302) throw new Error(`sign in answered ${signedIn.status}`);
  const page = await send('GET', `/oauth/authorize?${new URLSearchParams({ client_id: client.application_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'api' })}`);
  const code = /code=([0-9a-f]{64})/.exec(page.text)?.[1];
  if (!code) throw new Error(`no code on the authorize page: ${page.text.slice(0, 200)}`);
  const token = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client.application_id, client_secret: client.secret }),
  }).then((r) => r.json());
  return token.access_token;
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-oauth-'));
  const port = await freePort();
  const env = { GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_SERVER__PORT: String(port), GATEHOUSE_ROOT_TOKEN: ROOT_TOKEN, NODE_ENV: 'production' };
  const gatehouse = await startProcess(process.execPath, [...NODE_FLAGS, join(ROOT, 'dist/core/main.js'), 'start'], env, /gatehouse listening on/, join(dataDir, 'gatehouse.log'));
  try {
    const base = `http://127.0.0.1:${port}`;
    const oauth = await oauthToken(base);
    const url = `${base}/api/v4/user`;
    const headersOf = { pat: { Authorization: `Bearer ${ROOT_TOKEN}` }, oauth: { Authorization: `Bearer ${oauth}` } };
    for (const headers of Object.values(headersOf)) {
      const probe = await fetch(url, { headers });
      if (probe.status !== 200) throw new Error(`GET /api/v4/user answered ${probe.status}`);
      await load(url, headers, WARMUP_S);
    }
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const pat = await load(url, headersOf.pat, DURATION_S, gatehouse.child.pid);
      const token = await load(url, headersOf.oauth, DURATION_S, gatehouse.child.pid);
      rounds.push({ pat, oauth: token, ratio: token.requestsPerSecond / pat.requestsPerSecond });
    }
    const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)];
    process.stdout.write(
      [
        `GET /api/v4/user with a PAT:          ${Math.round(median.pat.requestsPerSecond)} req/s, p99 ${median.pat.p99Ms} ms`,
        `GET /api/v4/user with an OAuth token: ${Math.round(median.oauth.requestsPerSecond)} req/s, p99 ${median.oauth.p99Ms} ms, non-2xx ${median.oauth.non2xx}`,
        `ratio OAuth / PAT: ${Math.round(median.ratio * 1000) / 1000} (target ≥ 0.9; median of ${ROUNDS} rounds: ${rounds.map((r) => Math.round(r.ratio * 1000) / 1000).join(', ')})`,
        '',
      ].join('\n'),
    );
  } finally {
    await stop(gatehouse.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

runBenchmark(main);
