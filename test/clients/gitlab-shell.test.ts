import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp } from '../helpers/app.js';
import { makeEd25519Key } from '../helpers/ssh-keys.js';
import { shellJwt } from '../helpers/shell.js';

/**
 * Replays what GitLab Shell and Gitaly send to their GitLab during a session (clients.md §2), in
 * order, with their headers and bodies, and checks every field those clients read: `gitlab-shell-check`,
 * sshd's AuthorizedKeysCommand, `ssh git@host`, a clone, git-lfs-authenticate, `personal_access_token`
 * and `2fa_recovery_codes` over SSH, then Gitaly's pre-receive / post-receive hooks for a push.
 */

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

/** GitLab Shell's (or Gitaly's) request: a fresh JWT per call, JSON content type also on GET. */
async function shell(path: string, body?: unknown, userAgent = 'GitLab-Shell') {
  const headers: Record<string, string> = {
    'Gitlab-Shell-Api-Request': await shellJwt(app),
    'Content-Type': 'application/json',
    'User-Agent': userAgent,
    'X-Request-Id': `01HZX${Math.random().toString(36).slice(2, 12)}`,
    'Accept-Encoding': 'gzip',
    Connection: 'close',
  };
  const response = await app.request(`/api/v4/internal${path}`, { method: body === undefined ? 'GET' : 'POST', headers, raw: body === undefined ? undefined : JSON.stringify(body) });
  return response;
}

test('GitLab Shell and Gitaly session, replayed', async (t) => {
  // The world: a user with an SSH key, a group and a private project where the user is a developer.
  const user = (await app.request('/api/v4/users', { method: 'POST', token: ROOT_TOKEN, body: { username: 'dev', name: 'Dev Eloper', email: 'dev@example.com', password: 'long-enough-password' } })).body;
  const sshKey = makeEd25519Key('dev@laptop');
  const key = (await app.request(`/api/v4/users/${user.id}/keys`, { method: 'POST', token: ROOT_TOKEN, body: { title: 'laptop', key: sshKey.line } })).body;
  const group = (await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body: { name: 'group', path: 'group' } })).body;
  const project = (await app.request('/api/v4/projects', { method: 'POST', token: ROOT_TOKEN, body: { name: 'project', path: 'project', namespace_id: group.id } })).body;
  t.is((await app.request(`/api/v4/projects/${project.id}/members`, { method: 'POST', token: ROOT_TOKEN, body: { user_id: user.id, access_level: 30 } })).status, 201);

  // gitlab-shell-check
  const check = await shell('/check');
  t.is(check.status, 200);
  t.is(check.body.api_version, 'v4');
  t.is(typeof check.body.gitlab_version, 'string');
  t.is(typeof check.body.gitlab_rev, 'string');
  t.is(check.body.redis, true, 'GitLab Shell\'s check fails unless redis is true');

  // sshd AuthorizedKeysCommand: gitlab-shell-authorized-keys-check git <expected> <key blob>
  const authorized = await shell(`/authorized_keys?key=${encodeURIComponent(sshKey.blob)}`);
  t.is(authorized.status, 200);
  t.is(authorized.body.id, key.id);
  t.regex(authorized.body.key, new RegExp(`^ssh-ed25519 ${sshKey.blob.replace(/[+/]/g, '\\$&')}`));

  // ssh git@host → "Welcome to GitLab, @dev!"
  const discover = await shell(`/discover?key_id=${key.id}`);
  t.is(discover.status, 200);
  t.like(discover.body, { id: user.id, username: 'dev', name: 'Dev Eloper' });

  // git clone over SSH
  const clone = await shell('/allowed', { action: 'git-upload-pack', project: 'group/project.git', changes: '_any', protocol: 'ssh', key_id: String(key.id), check_ip: '127.0.0.1' });
  t.is(clone.status, 200);
  t.regex(clone.headers.get('content-type')!, /^application\/json/);
  t.like(clone.body, {
    status: true,
    gl_repository: `project-${project.id}`,
    gl_project_path: 'group/project',
    gl_project_id: project.id,
    gl_root_namespace_id: group.id,
    gl_id: `user-${user.id}`,
    gl_username: 'dev',
    gl_key_type: 'key',
    gl_key_id: key.id,
  });
  t.true(Array.isArray(clone.body.git_config_options));
  t.true(Array.isArray(clone.body.gl_console_messages));
  t.like(clone.body.gitaly, { repository: { storage_name: 'default', gl_repository: `project-${project.id}`, gl_project_path: 'group/project' } });
  t.regex(clone.body.gitaly.repository.relative_path, /^@hashed\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}\.git$/);
  t.true(clone.body.gitaly.address.length > 0, 'GitLab Shell needs a Gitaly address');
  t.is(typeof clone.body.gitaly.token, 'string');

  // git-lfs-authenticate group/project.git download (after /allowed with the matching action)
  const lfs = await shell('/lfs_authenticate', { operation: 'download', project: 'group/project.git', key_id: String(key.id) });
  t.is(lfs.status, 200);
  t.is(lfs.body.username, 'dev');
  t.is(typeof lfs.body.lfs_token, 'string');
  t.is(lfs.body.repository_http_path, `${EXTERNAL_URL}/group/project.git`);
  t.is(lfs.body.expires_in, 7200);

  // ssh git@host personal_access_token tok api,read_repository 30
  const pat = await shell('/personal_access_token', { key_id: String(key.id), name: 'tok', scopes: ['api', 'read_repository'], expires_at: '2026-12-23' });
  t.is(pat.status, 200);
  t.like(pat.body, { success: true, scopes: ['api', 'read_repository'], expires_at: '2026-12-23' });
  t.regex(pat.body.token, /^glpat-/);
  t.is((await app.request('/api/v4/user', { token: pat.body.token })).body.username, 'dev');

  // ssh git@host 2fa_recovery_codes: refused while 2FA is off (still HTTP 200), codes once it is on
  const noTwoFactor = await shell('/two_factor_recovery_codes', { key_id: String(key.id) });
  t.is(noTwoFactor.status, 200);
  t.deepEqual(noTwoFactor.body, { success: false, message: 'Two-factor authentication is not enabled for this user' });
  t.is((await app.request(`/api/v4/users/${user.id}`, { method: 'PUT', token: ROOT_TOKEN, body: { two_factor_enabled: true } })).status, 200);
  const codes = await shell('/two_factor_recovery_codes', { key_id: String(key.id) });
  t.is(codes.status, 200);
  t.is(codes.body.success, true);
  t.is(codes.body.recovery_codes.length, 10);

  // Gitaly's pre-receive hook for `git push origin feature`: /allowed, then /pre_receive
  const changes = `${'a'.repeat(40)} ${'b'.repeat(40)} refs/heads/feature\n`;
  const push = await shell(
    '/allowed',
    {
      action: 'git-receive-pack',
      gl_repository: `project-${project.id}`,
      project: `/var/opt/gitlab/git-data/repositories/${clone.body.gitaly.repository.relative_path}`,
      changes,
      protocol: 'ssh',
      env: JSON.stringify({ GIT_ALTERNATE_OBJECT_DIRECTORIES_RELATIVE: [], GIT_OBJECT_DIRECTORY_RELATIVE: 'objects/incoming-x' }),
      key_id: String(key.id),
    },
    'gitaly/17.11.0',
  );
  t.true(push.status === 200 || push.status === 300);
  t.regex(push.headers.get('content-type')!, /^application\/json/);
  t.is(push.body.status, true);
  const pre = await shell('/pre_receive', { gl_repository: `project-${project.id}` }, 'gitaly/17.11.0');
  t.is(pre.status, 200);
  t.regex(pre.headers.get('content-type')!, /^application\/json/);
  t.is(pre.body.reference_counter_increased, true);

  // Gitaly's post-receive hook: keys sorted (a Go map), push_options null
  const post = await shell(
    '/post_receive',
    { changes, gitaly_client_context_bin: null, gl_repository: `project-${project.id}`, identifier: `key-${key.id}`, push_options: null },
    'gitaly/17.11.0',
  );
  t.is(post.status, 200);
  t.regex(post.headers.get('content-type')!, /^application\/json/);
  t.is(post.body.reference_counter_decreased, true);
  t.deepEqual(post.body.messages, [
    {
      message: `To create a merge request for feature, visit:\n  ${EXTERNAL_URL}/group/project/-/merge_requests/new?merge_request%5Bsource_branch%5D=feature`,
      type: 'basic',
    },
  ]);
});
