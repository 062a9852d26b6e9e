import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../helpers/app.js';
import { makeEd25519Key } from '../helpers/ssh-keys.js';
import { clientScenarioState } from '../helpers/client-scenario.js';

/**
 * python-gitlab, the real library (Debian's python3-gitlab, which `.ci/run` installs), driven against
 * a running gatehouse by test/clients/python-gitlab/scenario.py: what the script prints is what the
 * library handed its caller, checked here field by field, then the database after it.
 */

const PYTHON = '/usr/bin/python3';
const SCENARIO = join(import.meta.dirname, 'python-gitlab', 'scenario.py');

function pythonGitlabVersion(): string | undefined {
  try {
    return execFileSync(PYTHON, ['-c', 'import gitlab; print(gitlab.__version__)'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

const version = pythonGitlabVersion();

if (!version) {
  test.skip(`python-gitlab tests skipped: ${PYTHON} cannot import gitlab (apt-get install python3-gitlab)`, () => {});
} else {
  let app: TestApp;
  test.before(async () => {
    // python-gitlab checks that the URLs in answers (web_url, Link) start with the URL it was given.
    app = await startTestApp({ ownExternalUrl: true });
    // Token expiry is checked against the gateway's clock; the script picks no dates of its own.
    app.clock.set(new Date());
  });
  test.after.always(async () => {
    await app?.close();
  });

  test(`python-gitlab ${version}: auth, users and pagination, tokens, keys, groups, projects, applications, errors`, async (t) => {
    const expiresAt = new Date(app.clock.now().getTime() + 30 * 86_400_000).toISOString().slice(0, 10);
    const { stdout } = await promisify(execFile)(PYTHON, [SCENARIO], {
      env: { PATH: process.env.PATH, GITLAB_URL: app.url, GITLAB_TOKEN: ROOT_TOKEN, SSH_KEY: makeEd25519Key('py@laptop').line, PAT_EXPIRES_AT: expiresAt },
      timeout: 60_000,
    });
    const seen = JSON.parse(stdout);

    t.deepEqual(seen, {
      auth_user: { username: 'root', is_admin: true },
      version: ['17.11.0', 'gatehouse'],
      created_users: [
        { username: 'py_user_0', state: 'active' },
        { username: 'py_user_1', state: 'active' },
        { username: 'py_user_2', state: 'active' },
      ],
      // Two per page: the library followed Link rel="next" to the end, and read the x-total headers.
      all_usernames: ['py_user_0', 'py_user_1', 'py_user_2', 'root'],
      pagination: { total: 4, total_pages: 2, per_page: 2, iterated: 4 },
      by_username: ['py_user_1'],
      renamed: 'Py Alice',
      blocked_state: 'blocked',
      unblocked_state: 'active',
      pat: { name: 'py token', scopes: ['api', 'read_user'], active: true, token_prefix: 'glpat-', expires_at: expiresAt },
      as_alice: 'py_user_0',
      alice_tokens: ['py token'],
      revoked_auth: { code: 401, message: 'invalid_token' },
      impersonation: { name: 'py impersonation', impersonation: true, active: true },
      impersonation_list: ['py impersonation'],
      impersonation_after_revoke: true,
      own_key: { title: 'py laptop', listed: ['py laptop'] },
      own_keys_after_delete: [],
      group: { full_path: 'py-group', description: 'made by python-gitlab' },
      project: { path_with_namespace: 'py-group/py-project', by_path: true },
      archived: true,
      unarchived: false,
      groups_listed: ['py-group'],
      projects_listed: ['py-group/py-project'],
      // root owns the group it created, hence its project (root has no other project yet).
      owned_projects: ['py-group/py-project'],
      group_projects: ['py-project'],
      group_members: [
        ['root', 50],
        ['py_user_0', 40],
      ],
      project_members_all: [
        ['root', 50],
        ['py_user_0', 40],
      ],
      missing_member: { code: 404, message: '404 Not found' },
      group_members_after_delete: ['root'],
      doomed_group: true,
      doomed_project: true,
      application: { name: 'Py App', has_secret: true, listed: ['Py App'] },
      applications_after_delete: [],
      missing_user: { code: 404, message: '404 User Not Found' },
      duplicate_user: { code: 409, message: 'Username has already been taken' },
      after_delete: ['py_user_0', 'py_user_1', 'root'],
    });

    // What the library did is what the database holds.
    t.deepEqual(await clientScenarioState(app, 'py'), {
      alice: { name: 'Py Alice', state: 'active' },
      tokens: [
        { name: 'py token', impersonation: false, revoked: true },
        { name: 'py impersonation', impersonation: true, revoked: true },
      ],
      deletedUserRows: 0,
      applicationRows: 0,
      keyRows: 0,
      projectArchived: false,
      groupDescription: 'made by python-gitlab',
      doomedGroupMarked: true,
      groupMemberLevels: [['root', 50]],
    });
  });
}
