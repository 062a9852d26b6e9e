import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestApp, ROOT_TOKEN, type TestApp } from '../helpers/app.js';
import { makeEd25519Key } from '../helpers/ssh-keys.js';
import { clientScenarioState } from '../helpers/client-scenario.js';

/**
 * go-gitlab, the real library (Debian's golang-github-xanzy-go-gitlab-dev, built offline with Debian's
 * Go; `.ci/run` installs both), driven against a running gatehouse by test/clients/go-gitlab/main.go.
 * go-gitlab decodes every answer into typed structs (ints, RFC 3339 times, ISO dates), so a field of the
 * wrong type or format fails the program; what it prints is checked here, then the database after it.
 */

const GOPATH = '/usr/share/gocode';
const GO_GITLAB = join(GOPATH, 'src/github.com/xanzy/go-gitlab');
const SOURCE = join(import.meta.dirname, 'go-gitlab', 'main.go');
const run = promisify(execFile);

async function goAvailable(): Promise<boolean> {
  if (!existsSync(GO_GITLAB)) return false;
  try {
    await run('go', ['version']);
    return true;
  } catch {
    return false;
  }
}

if (!(await goAvailable())) {
  test.skip('go-gitlab tests skipped: needs Go and go-gitlab (apt-get install golang-go golang-github-xanzy-go-gitlab-dev)', () => {});
} else {
  let app: TestApp;
  let workDir: string;
  let binary: string;
  test.before(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'gatehouse-go-gitlab-'));
    binary = join(workDir, 'scenario');
    // GOPATH mode: the library and its dependencies come from Debian's packaged sources, nothing is fetched.
    await run('go', ['build', '-o', binary, SOURCE], {
      cwd: join(import.meta.dirname, 'go-gitlab'),
      env: { PATH: process.env.PATH, HOME: workDir, GOPATH, GO111MODULE: 'off', GOFLAGS: '', GOCACHE: join(workDir, 'cache') },
      timeout: 120_000,
    });
    app = await startTestApp({ ownExternalUrl: true });
    // The program dates tokens from the wall clock; the gateway checks them against its own.
    app.clock.set(new Date());
  });
  test.after.always(async () => {
    await app?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test('go-gitlab: version, users and pagination, tokens (ISO and RFC 3339 expiry), keys, groups, projects, Kubernetes agents, applications, errors', async (t) => {
    const { stdout } = await run(binary, [], {
      env: { GITLAB_URL: app.url, GITLAB_TOKEN: ROOT_TOKEN, SSH_KEY: makeEd25519Key('go@laptop').line, TZ: 'UTC' },
      timeout: 60_000,
    });
    const seen = JSON.parse(stdout);
    const in30Days = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);

    t.deepEqual(seen, {
      version: ['17.11.0', 'gatehouse'],
      current_user: { username: 'root', is_admin: true, has_created_at: true },
      // Two per page, followed by x-next-page until it was empty; x-total and x-total-pages read.
      pagination: { usernames: ['go_user_0', 'go_user_1', 'go_user_2', 'root'], pages: 2, total: 4, total_pages: 2 },
      renamed: 'Go Alice',
      blocked_state: 'blocked',
      unblocked_state: 'active',
      pat: { name: 'go token', scopes: ['api', 'read_user'], active: true, token_prefix: 'glpat-', expires_at: in30Days },
      as_alice: 'go_user_0',
      alice_tokens: ['go token'],
      revoked_auth: { code: 401, message: '{error: invalid_token}, {error_description: Token was revoked. You have to re-authorize from the user.}' },
      impersonation: { name: 'go impersonation', active: true, expires_at: true },
      impersonation_list: ['go impersonation'],
      impersonation_after_revoke: true,
      own_key: { title: 'go laptop', listed: ['go laptop'], has_created_at: true },
      own_keys_after_delete: 0,
      group: { full_path: 'go-group', member_access: 30, description: 'made by go-gitlab' },
      project: { path_with_namespace: 'go-group/go-project', by_path: true, default_branch: 'main' },
      archived: true,
      unarchived: false,
      agent: {
        name: 'go-agent',
        config_project: 'go-group/go-project',
        created_by_root: true,
        listed: 1,
        token_prefix: 'glagent-',
        token_agent: true,
        tokens: ['go agent token:active'],
      },
      // A revoked agent token is not found (GitLab's RecordNotFound wording).
      agent_token_after_revoke: { code: 404, message: '{message: 404 Not found}' },
      agents_after_delete: 0,
      groups_listed: ['go-group'],
      // One per page, followed by x-next-page.
      projects_listed: { paths: ['go-group/go-doomed-project', 'go-group/go-project'], pages: 2 },
      group_members: {
        edited: 40,
        listed: [
          ['root', 50],
          ['go_user_0', 40],
        ],
      },
      project_members_all: ['root', 'go_user_0'],
      missing_member: { code: 404, message: '{message: 404 Not found}' },
      group_members_after_delete: 1,
      deleted: { group_status: 202, group_marked: true, project_status: 202, project_marked: true },
      application: { name: 'Go App', has_secret: true, listed: 1 },
      applications_after_delete: 0,
      // go-gitlab flattens GitLab's `{"message": …}` into `{message: …}`.
      missing_user: { code: 404, message: '{message: 404 User Not Found}' },
      duplicate_user: { code: 409, message: '{message: Username has already been taken}' },
      delete_status: true,
    });

    // What the library did is what the database holds.
    t.deepEqual(await clientScenarioState(app, 'go'), {
      alice: { name: 'Go Alice', state: 'active' },
      tokens: [
        { name: 'go token', impersonation: false, revoked: true },
        { name: 'go impersonation', impersonation: true, revoked: true },
      ],
      deletedUserRows: 0,
      applicationRows: 0,
      keyRows: 0,
      projectArchived: false,
      groupDescription: 'made by go-gitlab',
      doomedGroupMarked: true,
      groupMemberLevels: [['root', 50]],
    });
    // The agent is gone, and its tokens with it.
    t.is((await app.db('kubernetes_agents').where({ name: 'go-agent' })).length, 0);
    t.is((await app.db('kubernetes_agent_tokens').where({ name: 'go agent token' })).length, 0);
  });
}
