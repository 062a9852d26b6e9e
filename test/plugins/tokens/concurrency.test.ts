import test from 'ava';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { ALREADY_REVOKED, REVOKED, countTokens, tokenRow, userWithToken } from './_support.js';

const PARALLEL = 20;
const tokenPath = (id: number) => `/api/v4/personal_access_tokens/${id}`;

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

const times = <T>(n: number, fn: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => fn(i)));

/** A user with the token to act on and a second token to act with. */
async function target() {
  const first = await userWithToken(app);
  const acting = await app.services.tokens.tokens.create(first.user, { name: 'acting', scopes: ['api'] });
  return { user: first.user, token: first.token, plaintext: first.plaintext, acting: acting.plaintext };
}

test(`${PARALLEL} concurrent creates: every one stored, distinct, and working`, async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const responses = await times(PARALLEL, (i) =>
    app.request('/api/v4/user/personal_access_tokens', { method: 'POST', token: plaintext, body: { name: `parallel ${i}`, scopes: ['k8s_proxy'] } }),
  );
  t.deepEqual(responses.map((r) => r.status), Array(PARALLEL).fill(201));
  t.is(new Set(responses.map((r) => r.body.id)).size, PARALLEL);
  t.is(new Set(responses.map((r) => r.body.token)).size, PARALLEL);
  t.is(await countTokens(app, { user_id: user.id }), PARALLEL + 1);
  const names = (await app.db('tokens_personal_access_tokens').where({ user_id: user.id }).select('name')).map((r) => r.name).sort();
  t.deepEqual(names, ['test token', ...Array.from({ length: PARALLEL }, (_, i) => `parallel ${i}`)].sort());
  const selves = await Promise.all(responses.map((r) => app.request('/api/v4/personal_access_tokens/self', { token: r.body.token })));
  t.deepEqual(selves.map((r) => r.body.id), responses.map((r) => r.body.id));
});

test(`${PARALLEL} concurrent revokes of one token: all 204, one revoked row, nothing else touched`, async (t) => {
  const { user, token, plaintext, acting } = await target();
  const responses = await times(PARALLEL, () => app.request(tokenPath(token.id), { method: 'DELETE', token: acting }));
  t.deepEqual(responses.map((r) => r.status), Array(PARALLEL).fill(204));
  t.true((await tokenRow(app, token.id))!.revoked);
  t.is(await countTokens(app, { user_id: user.id }), 2);
  t.is(await countTokens(app, { user_id: user.id, revoked: true }), 1);
  t.deepEqual((await app.request('/api/v4/personal_access_tokens/self', { token: plaintext })).body, REVOKED);
});

test(`${PARALLEL} concurrent rotations of one token: exactly one successor, the rest "Token already revoked"`, async (t) => {
  const { user, token, acting } = await target();
  const responses = await times(PARALLEL, () => app.request(`${tokenPath(token.id)}/rotate`, { method: 'POST', token: acting }));
  const winners = responses.filter((r) => r.status === 200);
  const losers = responses.filter((r) => r.status !== 200);
  t.is(winners.length, 1);
  for (const loser of losers) t.deepEqual([loser.status, loser.body], [400, ALREADY_REVOKED]);

  t.is(await countTokens(app, { previous_personal_access_token_id: token.id }), 1);
  t.is(await countTokens(app, { user_id: user.id }), 3);
  t.true((await tokenRow(app, token.id))!.revoked);
  t.like((await tokenRow(app, winners[0].body.id))!, { revoked: false, previous_personal_access_token_id: token.id });
  // Losing the race must not cost the winner its token.
  t.is((await app.request('/api/v4/personal_access_tokens/self', { token: winners[0].body.token })).status, 200);
});

test(`${PARALLEL} concurrent revokes and rotations mixed: at most one successor, and it matches the 200s`, async (t) => {
  const { user, token, acting } = await target();
  const responses = await times(PARALLEL, (i) =>
    i % 2
      ? app.request(tokenPath(token.id), { method: 'DELETE', token: acting })
      : app.request(`${tokenPath(token.id)}/rotate`, { method: 'POST', token: acting }),
  );
  const deletes = responses.filter((_, i) => i % 2);
  const rotations = responses.filter((_, i) => !(i % 2));
  t.deepEqual(deletes.map((r) => r.status), Array(PARALLEL / 2).fill(204));
  const winners = rotations.filter((r) => r.status === 200);
  for (const loser of rotations.filter((r) => r.status !== 200)) t.deepEqual([loser.status, loser.body], [400, ALREADY_REVOKED]);
  t.true(winners.length <= 1);
  t.is(await countTokens(app, { previous_personal_access_token_id: token.id }), winners.length);
  t.is(await countTokens(app, { user_id: user.id }), 2 + winners.length);
  t.true((await tokenRow(app, token.id))!.revoked);
  if (winners.length) t.false((await tokenRow(app, winners[0].body.id))!.revoked);
});

test(`${PARALLEL} concurrent self-rotations with one token: exactly one successor`, async (t) => {
  const { user, token, plaintext } = await userWithToken(app, ['self_rotate']);
  const responses = await times(PARALLEL, () => app.request('/api/v4/personal_access_tokens/self/rotate', { method: 'POST', token: plaintext }));
  // Requests authenticated before the winner committed lose the race (400); later ones present a
  // rotated token (401), which GitLab treats as reuse and answers by revoking the successor too.
  t.is(responses.filter((r) => r.status === 200).length, 1);
  for (const other of responses.filter((r) => r.status !== 200)) {
    t.true(
      (other.status === 400 && other.body.message === ALREADY_REVOKED.message) || (other.status === 401 && other.body.error === 'invalid_token'),
      `${other.status} ${other.text}`,
    );
  }
  t.is(await countTokens(app, { previous_personal_access_token_id: token.id }), 1);
  t.is(await countTokens(app, { user_id: user.id }), 2);
});

test.serial('a token not in the cache, presented by 100 requests at once: one read of its row, one last_used_at write, all 200', async (t) => {
  const { token, plaintext } = await userWithToken(app);
  const tokens = app.services.tokens.tokens;
  tokens.cache.drop();
  const statements: string[] = [];
  const record = (query: { sql: string }) => {
    if (query.sql.includes('tokens_personal_access_tokens')) statements.push(query.sql.trim().split(/\s+/)[0].toLowerCase());
  };
  app.db.on('query', record);
  try {
    const responses = await times(100, () => app.request('/api/v4/personal_access_tokens/self', { token: plaintext }));
    t.deepEqual(responses.map((r) => r.status), Array(100).fill(200));
    t.true(responses.every((r) => r.body.id === token.id));
  } finally {
    app.db.removeListener('query', record);
  }
  t.deepEqual(statements.sort(), ['select', 'update'], 'one lookup by digest, one last_used_at write');
  t.not((await tokenRow(app, token.id))?.last_used_at ?? null, null);
});
