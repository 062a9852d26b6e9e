import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { Gitlab } from '@gitbeaker/rest';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../helpers/app.js';

/**
 * @gitbeaker/rest, a real GitLab client library, driven against a running gatehouse: what it returns
 * is what its users get. Snake-case keys (the library's default, camelize off).
 */

let app: TestApp;
let api: InstanceType<typeof Gitlab>;

function ed25519PublicKey(comment: string) {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (buf: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, buf.length]), buf]);
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

test.before(async () => {
  // Gitbeaker computes dates from the wall clock; start the gateway's clock at the real now.
  app = await startTestApp();
  app.clock.set(new Date());
  api = new Gitlab({ host: app.url, token: ROOT_TOKEN });
});
test.after.always(async () => {
  await app?.close();
});

test.serial('users: create, show, list by username, block and unblock', async (t) => {
  const created = await api.Users.create({
    username: 'gitbeaker_alice',
    name: 'Alice Beaker',
    email: 'alice@beaker.test',
    password: 'long-enough-password',
    skipConfirmation: true,
  });
  t.like(created, { username: 'gitbeaker_alice', name: 'Alice Beaker', state: 'active', email: 'alice@beaker.test', is_admin: false });
  const shown = await api.Users.show(created.id);
  t.like(shown, { id: created.id, username: 'gitbeaker_alice' });
  const listed = await api.Users.all({ username: 'gitbeaker_alice' });
  t.deepEqual(listed.map((u) => u.id), [created.id]);
  await api.Users.block(created.id);
  t.is((await api.Users.show(created.id)).state, 'blocked');
  await api.Users.unblock(created.id);
  t.is((await api.Users.show(created.id)).state, 'active');
  const me = await api.Users.showCurrentUser();
  t.like(me, { username: 'root', is_admin: true });
});

test.serial('SSH keys: add for self and for a user, list, remove', async (t) => {
  const mine = await api.UserSSHKeys.create('laptop', ed25519PublicKey('root@laptop'));
  t.like(mine, { title: 'laptop', usage_type: 'auth_and_signing' });
  const all = await api.UserSSHKeys.all();
  t.true(all.some((key) => key.id === mine.id));
  const user = (await api.Users.all({ username: 'gitbeaker_alice' }))[0];
  const theirs = await api.UserSSHKeys.create('alice desktop', ed25519PublicKey('alice@desktop'), { userId: user.id, usageType: 'auth' });
  t.like(theirs, { title: 'alice desktop', usage_type: 'auth' });
  await api.UserSSHKeys.remove(mine.id);
  t.false((await api.UserSSHKeys.all()).some((key) => key.id === mine.id));
});

test.serial('projects: create and show by id and by path', async (t) => {
  const project = await api.Projects.create({ name: 'Beaker Project', path: 'beaker-project' });
  t.like(project, { name: 'Beaker Project', path: 'beaker-project', path_with_namespace: 'root/beaker-project', default_branch: 'main' });
  t.like(await api.Projects.show(project.id), { id: project.id });
  t.like(await api.Projects.show('root/beaker-project'), { id: project.id });
});

test.serial('personal access tokens: create for a user, list, show, rotate, revoke', async (t) => {
  const user = (await api.Users.all({ username: 'gitbeaker_alice' }))[0];
  const created = await api.PersonalAccessTokens.create(user.id, 'beaker token', ['api', 'read_user']);
  t.like(created, { name: 'beaker token', scopes: ['api', 'read_user'], user_id: user.id, active: true, revoked: false });
  t.regex(String(created.token), /^glpat-/);

  const asAlice = new Gitlab({ host: app.url, token: String(created.token) });
  t.like(await asAlice.Users.showCurrentUser(), { username: 'gitbeaker_alice' });

  const listed = await api.PersonalAccessTokens.all({ userId: user.id });
  t.deepEqual(listed.map((token) => token.id), [created.id]);
  t.like(await api.PersonalAccessTokens.show({ tokenId: created.id }), { id: created.id, name: 'beaker token' });

  const rotated = await api.PersonalAccessTokens.rotate(created.id);
  t.not(rotated.id, created.id);
  t.regex(String(rotated.token), /^glpat-/);
  t.like(await api.PersonalAccessTokens.show({ tokenId: created.id }), { revoked: true, active: false });
  await t.throwsAsync(asAlice.Users.showCurrentUser());

  await api.PersonalAccessTokens.remove({ tokenId: rotated.id });
  t.like(await api.PersonalAccessTokens.show({ tokenId: rotated.id }), { revoked: true });
  const asRotated = new Gitlab({ host: app.url, token: String(rotated.token) });
  const error = await t.throwsAsync(asRotated.Users.showCurrentUser());
  t.regex(String((error as { cause?: { description?: string } })?.cause?.description ?? error?.message), /invalid_token|Token was revoked/);
});

test.serial('impersonation tokens: create, list, show, revoke', async (t) => {
  const user = (await api.Users.all({ username: 'gitbeaker_alice' }))[0];
  const created = await api.UserImpersonationTokens.create(user.id, 'impersonate alice', ['api']);
  t.like(created, { name: 'impersonate alice', impersonation: true, active: true, scopes: ['api'] });
  t.regex(String(created.token), /^glpat-/);
  const listed = await api.UserImpersonationTokens.all(user.id);
  t.deepEqual(listed.map((token) => token.id), [created.id]);
  t.like(await api.UserImpersonationTokens.show(user.id, created.id), { id: created.id, impersonation: true });
  t.false('token' in (await api.UserImpersonationTokens.show(user.id, created.id)));
  await api.UserImpersonationTokens.revoke(user.id, created.id);
  t.like(await api.UserImpersonationTokens.show(user.id, created.id), { revoked: true, active: false });
});

test.serial('errors reach the library with GitLab\'s messages', async (t) => {
  const error = await t.throwsAsync(api.Users.show(999_999));
  t.regex(String((error as { cause?: { description?: string } })?.cause?.description ?? error?.message), /404 User Not Found/);
});
