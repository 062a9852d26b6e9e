import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../helpers/app.js';
import { createUserWithToken } from '../helpers/fixtures.js';

/**
 * python-gitlab's command-line interface (`python3 -m gitlab`, Debian's python3-gitlab), as people
 * script it: list projects, groups and group members, and delete them, against a running gatehouse.
 */

const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);

function pythonGitlabVersion(): string | undefined {
  try {
    return execFileSync(PYTHON, ['-c', 'import gitlab; print(gitlab.__version__)'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

const version = pythonGitlabVersion();

if (!version) {
  test.skip(`python-gitlab CLI tests skipped: ${PYTHON} cannot import gitlab (apt-get install python3-gitlab)`, () => {});
} else {
  let app: TestApp;
  let home: string;
  test.before(async () => {
    app = await startTestApp({ ownExternalUrl: true });
    // No ~/.python-gitlab.cfg of the machine's user is read: the CLI gets a home of its own.
    home = mkdtempSync(join(tmpdir(), 'gatehouse-gitlab-cli-'));
  });
  test.after.always(async () => {
    await app?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  /** Runs `python3 -m gitlab -o json <args>` as `token`; returns the parsed output (or the raw text). */
  async function cli(token: string, ...args: string[]) {
    const { stdout } = await run(PYTHON, ['-m', 'gitlab', '--server-url', app.url, '--private-token', token, '-o', 'json', ...args], {
      env: { PATH: process.env.PATH, HOME: home },
      timeout: 60_000,
    });
    const text = stdout.trim();
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  async function post(path: string, token: string, body: Record<string, unknown>) {
    const response = await app.request(path, { method: 'POST', token, body });
    if (response.status !== 201) throw new Error(`POST ${path} failed: ${response.status} ${response.text}`);
    return response.body;
  }

  test(`python-gitlab ${version} CLI: project list, group list, group-member list, and deletes`, async (t) => {
    const { plaintext: aliceToken } = await createUserWithToken(app, ['api'], { username: 'cli_alice' });
    const { user: bob } = await createUserWithToken(app, ['api'], { username: 'cli_bob' });
    const group = await post('/api/v4/groups', aliceToken, { name: 'CLI Group', path: 'cli-group' });
    const sub = await post('/api/v4/groups', aliceToken, { name: 'CLI Sub', path: 'cli-sub', parent_id: group.id });
    await post(`/api/v4/groups/${group.id}/members`, aliceToken, { user_id: bob.id, access_level: 30 });
    const shop = await post('/api/v4/projects', aliceToken, { path: 'cli-shop', namespace_id: group.id });
    const mine = await post('/api/v4/projects', aliceToken, { path: 'cli-mine' });
    await post('/api/v4/groups', ROOT_TOKEN, { name: 'Not Alice', path: 'cli-other' });

    const projects = await cli(aliceToken, 'project', 'list', '--search', 'cli-', '--order-by', 'id', '--sort', 'asc');
    t.deepEqual(
      projects.map((p: { path_with_namespace: string }) => p.path_with_namespace),
      ['cli-group/cli-shop', 'cli_alice/cli-mine'],
    );
    const owned = await cli(aliceToken, 'project', 'list', '--owned', 'true', '--search', 'cli-mine');
    t.deepEqual(
      owned.map((p: { id: number }) => p.id),
      [mine.id],
    );

    // A regular user lists their own groups; root (admin) lists every group.
    const groups = await cli(aliceToken, 'group', 'list');
    t.deepEqual(
      groups.map((g: { full_path: string }) => g.full_path),
      ['cli-group', 'cli-group/cli-sub'],
    );
    const everyGroup = await cli(ROOT_TOKEN, 'group', 'list', '--search', 'cli-');
    t.deepEqual(everyGroup.map((g: { full_path: string }) => g.full_path).sort(), ['cli-group', 'cli-group/cli-sub', 'cli-other']);

    const members = await cli(aliceToken, 'group-member', 'list', '--group-id', String(group.id));
    t.deepEqual(
      members.map((m: { username: string; access_level: number }) => [m.username, m.access_level]),
      [
        ['cli_alice', 50],
        ['cli_bob', 30],
      ],
    );
    const inherited = await cli(aliceToken, 'group-member-all', 'list', '--group-id', String(sub.id));
    t.deepEqual(
      inherited.map((m: { username: string }) => m.username),
      ['cli_alice', 'cli_bob'],
    );

    await cli(aliceToken, 'group-member', 'delete', '--group-id', String(group.id), '--id', String(bob.id));
    t.is((await app.db('directory_members').where({ source_type: 'namespace', source_id: group.id, user_id: bob.id })).length, 0);

    await cli(aliceToken, 'project', 'delete', '--id', String(shop.id));
    t.truthy((await app.db('directory_projects').where({ id: shop.id }).first()).marked_for_deletion_at);
    await cli(aliceToken, 'group', 'delete', '--id', String(sub.id));
    t.truthy((await app.db('directory_namespaces').where({ id: sub.id }).first()).marked_for_deletion_at);
  });
}
