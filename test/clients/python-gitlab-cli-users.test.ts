import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../helpers/app.js';
import { createUserWithToken } from '../helpers/fixtures.js';
import { makeEd25519Key } from '../helpers/ssh-keys.js';

/**
 * python-gitlab's command line (`python3 -m gitlab`, Debian's python3-gitlab) against a running
 * gatehouse: users, their SSH keys and namespaces listed as a shell script would, server and token
 * given as options, answers read as JSON (`-o json`).
 */

const PYTHON = '/usr/bin/python3';

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
  let tag: string;
  let users: Array<{ id: number; username: string; name: string }>;
  let userToken: string;
  const keys: string[] = [];

  test.before(async () => {
    // python-gitlab checks that the URLs in answers (Link) start with the URL it was given.
    app = await startTestApp({ ownExternalUrl: true });
    tag = `cli${Math.random().toString(36).slice(2, 7)}`;
    users = [];
    for (const label of ['ada', 'bob', 'cyd']) {
      users.push(
        await app.services.directory.users.create({
          username: `${label}_${tag}`,
          name: `${label} ${tag}`,
          email: `${label}_${tag}@example.com`,
          password: 'correct-horse-battery',
        }),
      );
    }
    for (const title of ['laptop', 'desktop']) {
      const key = makeEd25519Key(`${users[0].username}@example.com`);
      await app.services.directory.keys.add(users[0].id, { title, key: key.line });
      keys.push(key.line);
    }
    userToken = (await createUserWithToken(app, ['read_user'])).plaintext;
  });
  test.after.always(async () => {
    await app?.close();
  });

  /** Runs `python3 -m gitlab` with the given token (none: anonymous) and returns its parsed JSON output. */
  async function cli(token: string | undefined, args: string[]) {
    const auth = token ? ['--private-token', token] : [];
    const { stdout } = await promisify(execFile)(PYTHON, ['-m', 'gitlab', '--server-url', app.url, ...auth, '-o', 'json', ...args], {
      // No configuration file of the machine's user is read: the options say everything.
      env: { PATH: process.env.PATH, HOME: '/nonexistent' },
      timeout: 60_000,
    });
    return JSON.parse(stdout);
  }

  /** The same, for a command that fails: its exit code and what it printed. */
  async function cliFailure(token: string | undefined, args: string[]) {
    try {
      await cli(token, args);
    } catch (error) {
      const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
      return { code, output: `${stdout}${stderr}` };
    }
    throw new Error('the command succeeded');
  }

  test(`python-gitlab ${version} CLI: user list as an admin, every page, with the admin entity`, async (t) => {
    const listed = await cli(ROOT_TOKEN, ['--per-page', '2', 'user', 'list', '--search', tag, '--get-all']);
    t.deepEqual(
      listed.map((user: { username: string }) => user.username),
      users.map((user) => user.username).reverse(),
    );
    t.is(listed[0].email, `cyd_${tag}@example.com`);
    t.false(listed[0].is_admin);
  });

  test(`python-gitlab ${version} CLI: user list as a user shows basic entities; by username for anyone`, async (t) => {
    const listed = await cli(userToken, ['user', 'list', '--search', tag]);
    // A user's search is ranked by name.
    t.deepEqual(
      listed.map((user: { username: string }) => user.username),
      users.map((user) => user.username),
    );
    t.false('email' in listed[0]);
    t.deepEqual(Object.keys(listed[0]).sort(), ['avatar_url', 'id', 'locked', 'name', 'public_email', 'state', 'username', 'web_url']);

    const anonymous = await cli(undefined, ['user', 'list', '--username', users[1].username]);
    t.deepEqual(
      anonymous.map((user: { id: number }) => user.id),
      [users[1].id],
    );
  });

  test(`python-gitlab ${version} CLI: user list with keyset pagination walks every page`, async (t) => {
    const listed = await cli(ROOT_TOKEN, ['--pagination', 'keyset', '--order-by', 'id', '--per-page', '1', 'user', 'list', '--search', tag, '--get-all']);
    t.deepEqual(
      listed.map((user: { id: number }) => user.id),
      users.map((user) => user.id).reverse(),
    );
  });

  test(`python-gitlab ${version} CLI: user-key list by user id, with GitLab's published comment`, async (t) => {
    const listed = await cli(userToken, ['user-key', 'list', '--user-id', String(users[0].id)]);
    t.deepEqual(
      listed.map((key: { title: string; key: string }) => [key.title, key.key]),
      [
        ['laptop', `${keys[0].split(' ').slice(0, 2).join(' ')} ${users[0].name} (127.0.0.1)`],
        ['desktop', `${keys[1].split(' ').slice(0, 2).join(' ')} ${users[0].name} (127.0.0.1)`],
      ],
    );
    const none = await cli(undefined, ['user-key', 'list', '--user-id', String(users[1].id)]);
    t.deepEqual(none, []);
  });

  test(`python-gitlab ${version} CLI: current-user-key list, namespace list and get`, async (t) => {
    const owner = await createUserWithToken(app, ['api']);
    const key = makeEd25519Key('mine@laptop');
    await app.services.directory.keys.add(owner.user.id, { title: 'mine', key: key.line });
    const own = await cli(owner.plaintext, ['current-user-key', 'list']);
    t.deepEqual(
      own.map((listed: { title: string; key: string }) => [listed.title, listed.key]),
      [['mine', `${key.line.split(' ').slice(0, 2).join(' ')} ${owner.user.name} (127.0.0.1)`]],
    );

    const group = await app.request('/api/v4/groups', { method: 'POST', token: owner.plaintext, body: { name: `cli ${tag}`, path: `cli-${tag}` } });
    t.is(group.status, 201);
    const namespaces = await cli(owner.plaintext, ['namespace', 'list']);
    t.deepEqual(
      namespaces.map((namespace: { kind: string; full_path: string }) => [namespace.kind, namespace.full_path]),
      [
        ['user', owner.user.username],
        ['group', `cli-${tag}`],
      ],
    );
    const shown = await cli(owner.plaintext, ['namespace', 'get', '--id', String(group.body.id)]);
    t.like(shown, { id: group.body.id, kind: 'group', full_path: `cli-${tag}`, members_count_with_descendants: 1, projects_count: 0 });
    const stranger = await createUserWithToken(app, ['read_api']);
    const hidden = await cliFailure(stranger.plaintext, ['namespace', 'get', '--id', String(group.body.id)]);
    t.is(hidden.code, 1);
    t.regex(hidden.output, /404 Namespace Not Found/);
  });

  test(`python-gitlab ${version} CLI: user-key list of an unknown user fails with GitLab's 404`, async (t) => {
    const failed = await cliFailure(ROOT_TOKEN, ['user-key', 'list', '--user-id', '99999999']);
    t.is(failed.code, 1);
    t.regex(failed.output, /404 User Not Found/);
  });
}
