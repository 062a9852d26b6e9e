import { createHash } from 'node:crypto';
import test from 'ava';
import { startTestApp, ROOT_TOKEN, EXTERNAL_URL, type TestApp, type TestAppOptions } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { shellHeaders, shellJwt, shellSecretOf } from '../../helpers/shell.js';
import { UNAUTHORIZED } from '../../helpers/gitlab-errors.js';

const ALLOWED = '/api/v4/internal/allowed';
const NOW = '2026-11-22T10:00:00.000Z';
const DAY = 24 * 60 * 60 * 1000;

// GitLab's texts, verbatim (gitlab-api.md §2.3 and Appendix A).
const NOT_FOUND = "The project you were looking for could not be found or you don't have permission to view it.";
const DOWNLOAD_DENIED = 'You are not allowed to download code from this project.';
const PUSH_DENIED = 'You are not allowed to push code to this project.';
const ARCHIVED = "You can't push code to an archived project.";
const DEPLOY_KEY_READ_ONLY = 'This deploy key does not have write access to this project.';
const SSH_DISABLED = 'Git access over SSH is not allowed';
const KEY_EXPIRED = 'Your SSH key has expired.';
const BLOCKED = 'Your account has been blocked.';
const DEACTIVATED = `Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at ${EXTERNAL_URL}`;
const COMMAND_NOT_ALLOWED = "The command you're trying to execute is not allowed.";
const EXPIRES_SOON = 'INFO: Your SSH key expires soon. Please generate a new key.';
const RATE_LIMITED = { message: { error: 'This endpoint has been requested too many times. Try again later.' } };
const GIT_CONFIG = ['uploadpack.allowFilter=true', 'uploadpack.allowAnySHA1InWant=true'];
const GITALY_ADDRESS = 'tcp://127.0.0.1:8075';
const SNIPPET_NOT_FOUND = 'The snippet you were looking for could not be found.';
const DESIGNS_WEB_ONLY = 'Designs are only accessible using the web interface';
const DESIGNS_DENIED = 'You are not allowed to manage designs of this project';
const CIRCUIT_BREAKER = 'enable-workhorse-circuit-breaker';

const denied = (message: string) => ({ status: false, message });

type Role = 'guest' | 'reporter' | 'developer' | 'maintainer' | 'outsider' | 'admin';
const LEVELS: Partial<Record<Role, number>> = { guest: 10, reporter: 20, developer: 30, maintainer: 40 };
type Visibility = 'public' | 'internal' | 'private';

interface Person {
  id: number;
  username: string;
  keyId: number;
}

interface ProjectInfo {
  id: number;
  path: string;
}

/** A group with a project of each visibility, an archived one, and a user per role, each with an SSH key. */
interface World {
  app: TestApp;
  groupId: number;
  projects: Record<Visibility | 'archived', ProjectInfo>;
  people: Record<Role, Person>;
}

async function api(app: TestApp, path: string, body: Record<string, unknown>) {
  const response = await app.request(path, { method: 'POST', token: ROOT_TOKEN, body });
  if (response.status !== 201 && response.status !== 200) throw new Error(`${path} failed: ${response.status} ${response.text}`);
  return response.body;
}

async function addKey(app: TestApp, userId: number, expiresAt: Date | null = null): Promise<number> {
  const key = await app.services.directory.keys.add(userId, { title: 'laptop', key: makeEd25519Key('me@laptop').line, expiresAt });
  return key.id;
}

async function person(app: TestApp, options: { admin?: boolean } = {}): Promise<Person> {
  const { user } = await createUserWithToken(app, ['api'], options);
  return { id: user.id, username: user.username, keyId: await addKey(app, user.id) };
}

async function createProject(app: TestApp, namespaceId: number, path: string, visibility: Visibility): Promise<ProjectInfo> {
  const project = await api(app, '/api/v4/projects', { name: path, path, namespace_id: namespaceId, visibility });
  return { id: project.id, path: project.path_with_namespace };
}

async function seed(app: TestApp): Promise<World> {
  const suffix = Math.random().toString(36).slice(2, 8);
  const group = await api(app, '/api/v4/groups', { name: `grp${suffix}`, path: `grp${suffix}`, visibility: 'public' });
  const projects = {
    public: await createProject(app, group.id, 'pub', 'public'),
    internal: await createProject(app, group.id, 'int', 'internal'),
    private: await createProject(app, group.id, 'priv', 'private'),
    archived: await createProject(app, group.id, 'old', 'private'),
  };
  await api(app, `/api/v4/projects/${projects.archived.id}/archive`, {});
  const people = {} as Record<Role, Person>;
  for (const role of ['guest', 'reporter', 'developer', 'maintainer', 'outsider', 'admin'] as Role[]) {
    people[role] = await person(app, { admin: role === 'admin' });
    const level = LEVELS[role];
    if (level) await api(app, `/api/v4/groups/${group.id}/members`, { user_id: people[role].id, access_level: level });
  }
  return { app, groupId: group.id, projects, people };
}

/** POST /internal/allowed as GitLab Shell sends it (JSON, JWT), over SSH unless the body says otherwise. */
async function allowed(app: TestApp, body: Record<string, unknown>) {
  return app.request(ALLOWED, { method: 'POST', headers: await shellHeaders(app), body: { changes: '_any', protocol: 'ssh', ...body } });
}

const hashedPath = (id: number) => {
  const hash = createHash('sha256').update(String(id)).digest('hex');
  return `@hashed/${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}`;
};

/** The whole success body, key order included, for a user's key (or a deploy key when `deployKeyId` is set). */
function success(
  world: World,
  project: ProjectInfo,
  actor: { user?: Person; keyId?: number; deployKeyId?: number; consoleMessages?: string[]; wiki?: boolean },
) {
  const glRepository = `${actor.wiki ? 'wiki' : 'project'}-${project.id}`;
  const path = actor.wiki ? `${project.path}.wiki` : project.path;
  const keyId = actor.deployKeyId ?? actor.keyId;
  return {
    status: true,
    gl_repository: glRepository,
    gl_project_path: path,
    gl_project_id: project.id,
    gl_root_namespace_id: world.groupId,
    gl_id: actor.user ? `user-${actor.user.id}` : '',
    ...(actor.user ? { gl_username: actor.user.username } : {}),
    git_config_options: GIT_CONFIG,
    gitaly: {
      repository: {
        storage_name: 'default',
        relative_path: `${hashedPath(project.id)}${actor.wiki ? '.wiki' : ''}.git`,
        git_object_directory: '',
        git_alternate_object_directories: [],
        gl_repository: glRepository,
        gl_project_path: path,
      },
      address: GITALY_ADDRESS,
      token: '',
      features: {},
    },
    gl_console_messages: actor.consoleMessages ?? [],
    need_audit: false,
    ...(keyId !== undefined ? { gl_key_type: actor.deployKeyId !== undefined ? 'deploy_key' : 'key', gl_key_id: keyId } : {}),
  };
}

async function withApp(options: TestAppOptions, fn: (app: TestApp) => Promise<void>) {
  const app = await startTestApp(options);
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

let world: World;

test.before(async () => {
  world = await seed(await startTestApp());
});
test.after.always(async () => {
  await world?.app.close();
});

// ---------------------------------------------------------------- exact success bodies

test('a developer pulls over SSH with a key: the exact body GitLab Shell reads, JSON, last_used_at recorded', async (t) => {
  const { app, people, projects } = world;
  const developer = people.developer;
  const response = await allowed(app, { action: 'git-upload-pack', key_id: String(developer.keyId), project: `/${projects.private.path}.git`, check_ip: '203.0.113.5' });
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
  const hash = createHash('sha256').update(String(projects.private.id)).digest('hex');
  t.deepEqual(response.body, {
    status: true,
    gl_repository: `project-${projects.private.id}`,
    gl_project_path: projects.private.path,
    gl_project_id: projects.private.id,
    gl_root_namespace_id: world.groupId,
    gl_id: `user-${developer.id}`,
    gl_username: developer.username,
    git_config_options: ['uploadpack.allowFilter=true', 'uploadpack.allowAnySHA1InWant=true'],
    gitaly: {
      repository: {
        storage_name: 'default',
        relative_path: `@hashed/${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}.git`,
        git_object_directory: '',
        git_alternate_object_directories: [],
        gl_repository: `project-${projects.private.id}`,
        gl_project_path: projects.private.path,
      },
      address: 'tcp://127.0.0.1:8075',
      token: '',
      features: {},
    },
    gl_console_messages: [],
    need_audit: false,
    gl_key_type: 'key',
    gl_key_id: developer.keyId,
  });
  // Field order is the contract too (GitLab Shell's Go struct order).
  t.deepEqual(Object.keys(response.body), [
    'status', 'gl_repository', 'gl_project_path', 'gl_project_id', 'gl_root_namespace_id', 'gl_id', 'gl_username',
    'git_config_options', 'gitaly', 'gl_console_messages', 'need_audit', 'gl_key_type', 'gl_key_id',
  ]);
  const row = await app.db('directory_ssh_keys').where({ id: developer.keyId }).first();
  t.truthy(row.last_used_at);
  t.is(new Date(row.last_used_at).toISOString(), NOW);
});

test('actors by user_id, username and identifier: no key fields', async (t) => {
  const { app, people, projects } = world;
  const developer = people.developer;
  const expected = success(world, projects.private, { user: developer });
  for (const actor of [{ user_id: developer.id }, { user_id: String(developer.id) }, { username: developer.username }, { identifier: `user-${developer.id}` }]) {
    const response = await allowed(app, { action: 'git-receive-pack', project: projects.private.path, ...actor });
    t.is(response.status, 200, JSON.stringify(actor));
    t.deepEqual(response.body, expected);
  }
  const byKeyIdentifier = await allowed(app, { action: 'git-upload-pack', project: projects.private.path, identifier: `key-${developer.keyId}` });
  t.deepEqual(byKeyIdentifier.body, success(world, projects.private, { user: developer, keyId: developer.keyId }));
});

test('form-encoded bodies and the legacy secret work like JSON', async (t) => {
  const { app, people, projects } = world;
  const developer = people.developer;
  const response = await app.request(ALLOWED, {
    method: 'POST',
    headers: { 'Gitlab-Shell-Api-Request': await shellJwt(app) },
    form: { action: 'git-upload-pack', key_id: String(developer.keyId), project: `${projects.public.path}.git`, protocol: 'ssh', changes: '_any' },
  });
  t.is(response.status, 200);
  t.deepEqual(response.body, success(world, projects.public, { user: developer, keyId: developer.keyId }));
  const legacy = await app.request(ALLOWED, {
    method: 'POST',
    headers: { 'Gitlab-Shared-Secret': Buffer.from(`${shellSecretOf(app)}\n`).toString('base64') },
    form: { action: 'git-upload-pack', key_id: String(developer.keyId), project: projects.public.path, protocol: 'ssh' },
  });
  t.is(legacy.status, 200);
  t.deepEqual(legacy.body, success(world, projects.public, { user: developer, keyId: developer.keyId }));
});

test('git-upload-archive counts as a download', async (t) => {
  const { app, people, projects } = world;
  const reporter = people.reporter;
  const response = await allowed(app, { action: 'git-upload-archive', key_id: reporter.keyId, project: projects.private.path });
  t.is(response.status, 200);
  t.deepEqual(response.body, success(world, projects.private, { user: reporter, keyId: reporter.keyId }));
});

// ---------------------------------------------------------------- the access matrix

type Outcome = 200 | 'download' | 'push' | 404;
const MATRIX: Record<Role, Record<Visibility, [pull: Outcome, push: Outcome]>> = {
  guest: { public: [200, 'push'], internal: [200, 'push'], private: ['download', 'push'] },
  reporter: { public: [200, 'push'], internal: [200, 'push'], private: [200, 'push'] },
  developer: { public: [200, 200], internal: [200, 200], private: [200, 200] },
  maintainer: { public: [200, 200], internal: [200, 200], private: [200, 200] },
  outsider: { public: [200, 'push'], internal: [200, 'push'], private: [404, 404] },
  admin: { public: [200, 200], internal: [200, 200], private: [200, 200] },
};

for (const [role, row] of Object.entries(MATRIX) as Array<[Role, Record<Visibility, [Outcome, Outcome]>]>) {
  for (const [visibility, outcomes] of Object.entries(row) as Array<[Visibility, [Outcome, Outcome]]>) {
    for (const [i, action] of (['git-upload-pack', 'git-receive-pack'] as const).entries()) {
      const outcome = outcomes[i];
      test(`matrix: ${role} ${action === 'git-upload-pack' ? 'pulls' : 'pushes'} ${visibility} → ${outcome}`, async (t) => {
        const { app, people, projects } = world;
        const actor = people[role];
        const project = projects[visibility];
        const response = await allowed(app, { action, key_id: String(actor.keyId), project: `${project.path}.git` });
        if (outcome === 200) {
          t.is(response.status, 200);
          t.deepEqual(response.body, success(world, project, { user: actor, keyId: actor.keyId }));
        } else if (outcome === 404) {
          t.is(response.status, 404);
          t.deepEqual(response.body, denied(NOT_FOUND));
        } else {
          t.is(response.status, 401);
          t.deepEqual(response.body, denied(outcome === 'download' ? DOWNLOAD_DENIED : PUSH_DENIED));
        }
      });
    }
  }
}

// ---------------------------------------------------------------- users, keys, projects

test('a blocked user is refused before the project is looked at; so is a deactivated one', async (t) => {
  const { app, projects } = world;
  const blocked = await person(app);
  await api(app, `/api/v4/users/${blocked.id}/block`, {});
  for (const project of [projects.public.path, 'nowhere/missing']) {
    const response = await allowed(app, { action: 'git-upload-pack', key_id: blocked.keyId, project });
    t.is(response.status, 401);
    t.deepEqual(response.body, denied(BLOCKED));
  }
  const deactivated = await person(app);
  const user = await app.services.directory.users.findById(deactivated.id);
  await app.services.directory.users.setState(user, 'deactivated');
  const response = await allowed(app, { action: 'git-upload-pack', user_id: deactivated.id, project: projects.public.path });
  t.is(response.status, 401);
  t.deepEqual(response.body, denied(DEACTIVATED));
});

test('an archived project can be pulled but not pushed to', async (t) => {
  const { app, people, projects } = world;
  const developer = people.developer;
  const pull = await allowed(app, { action: 'git-upload-pack', key_id: developer.keyId, project: projects.archived.path });
  t.is(pull.status, 200);
  t.deepEqual(pull.body, success(world, projects.archived, { user: developer, keyId: developer.keyId }));
  const push = await allowed(app, { action: 'git-receive-pack', key_id: developer.keyId, project: projects.archived.path });
  t.is(push.status, 401);
  t.deepEqual(push.body, denied(ARCHIVED));
});

test('unknown keys and key_id 0 act as nobody: 404 for a private project', async (t) => {
  const { app, projects } = world;
  for (const keyId of [0, '0', 999_999]) {
    const response = await allowed(app, { action: 'git-upload-pack', key_id: keyId, project: projects.private.path });
    t.is(response.status, 404, String(keyId));
    t.deepEqual(response.body, denied(NOT_FOUND));
  }
  // Nobody may still read public code (GitLab's guest_can_download?), with an empty gl_id and no key fields…
  const pull = await allowed(app, { action: 'git-upload-pack', key_id: 0, project: projects.public.path });
  t.is(pull.status, 200);
  t.deepEqual(pull.body, success(world, projects.public, {}));
  // …but never push.
  const push = await allowed(app, { action: 'git-receive-pack', key_id: 0, project: projects.public.path });
  t.is(push.status, 401);
  t.deepEqual(push.body, denied('You are not allowed to upload code for this project.'));
});

test('unknown projects and unknown gl_repository values are 404, for pulls and pushes', async (t) => {
  const { app, people, projects } = world;
  const developer = people.developer;
  for (const body of [
    { action: 'git-receive-pack', project: 'project/does-not-exist.git' },
    { action: 'git-upload-pack', project: `${projects.private.path}-nope` },
    { action: 'git-receive-pack', gl_repository: 'project-999999', project: projects.private.path },
    { action: 'git-upload-pack' },
  ]) {
    const response = await allowed(app, { key_id: developer.keyId, ...body });
    t.is(response.status, 404, JSON.stringify(body));
    t.deepEqual(response.body, denied(NOT_FOUND));
  }
});

test('snippet repositories (gatehouse keeps none) are GitAccessSnippet\'s 404, before any other check', async (t) => {
  const { app, people, projects } = world;
  for (const body of [
    { action: 'git-upload-pack', gl_repository: 'snippet-1', project: projects.private.path },
    { action: 'git-receive-pack', project: 'snippets/12.git' },
    { action: 'git-upload-pack', project: `/${projects.private.path}/snippets/5.git` },
    // GitAccessSnippet's check comes before the protocol, key and user checks.
    { action: 'git-upload-pack', project: 'snippets/12', key_id: 0, protocol: 'nope' },
  ]) {
    const response = await allowed(app, { key_id: people.developer.keyId, ...body });
    t.is(response.status, 404, JSON.stringify(body));
    t.deepEqual(response.body, denied(SNIPPET_NOT_FOUND));
  }
  // Not a snippet id: an ordinary (missing) project path.
  const named = await allowed(app, { action: 'git-receive-pack', key_id: people.developer.keyId, project: 'snippets/notexist.git' });
  t.is(named.status, 404);
  t.deepEqual(named.body, denied(NOT_FOUND));
});

test('design repositories: only over the web, only for those who may manage designs', async (t) => {
  const { app, people, projects } = world;
  const designOf = projects.private;
  const byGlRepository = { gl_repository: `design-${designOf.id}`, project: designOf.path };
  for (const where of [byGlRepository, { project: `${designOf.path}.design.git` }]) {
    for (const protocol of ['ssh', 'http']) {
      const response = await allowed(app, { action: 'git-receive-pack', key_id: people.developer.keyId, protocol, ...where });
      t.is(response.status, 401, `${protocol} ${JSON.stringify(where)}`);
      t.deepEqual(response.body, denied(DESIGNS_WEB_ONLY));
    }
  }
  // GitAccessDesign replaces GitLab's other checks: even an unknown design repository gets its message over SSH.
  const unknown = await allowed(app, { action: 'git-upload-pack', key_id: people.developer.keyId, gl_repository: 'design-999999' });
  t.deepEqual([unknown.status, unknown.body], [401, denied(DESIGNS_WEB_ONLY)]);

  for (const role of ['developer', 'maintainer', 'admin'] as Role[]) {
    const response = await allowed(app, { action: 'git-receive-pack', user_id: people[role].id, protocol: 'web', ...byGlRepository });
    t.is(response.status, 200, role);
    const glRepository = `design-${designOf.id}`;
    const base = success(world, designOf, { user: people[role] });
    t.deepEqual(response.body, {
      ...base,
      gl_repository: glRepository,
      gl_project_path: `${designOf.path}.design`,
      gitaly: { ...base.gitaly, repository: { ...base.gitaly.repository, relative_path: `${hashedPath(designOf.id)}.design.git`, gl_repository: glRepository, gl_project_path: `${designOf.path}.design` } },
    });
  }
  for (const role of ['reporter', 'guest', 'outsider'] as Role[]) {
    const response = await allowed(app, { action: 'git-upload-pack', user_id: people[role].id, protocol: 'web', ...byGlRepository });
    t.deepEqual([response.status, response.body], [401, denied(DESIGNS_DENIED)], role);
  }
  const nobody = await allowed(app, { action: 'git-upload-pack', protocol: 'web', gl_repository: 'design-999999', user_id: people.admin.id });
  t.deepEqual([nobody.status, nobody.body], [401, denied(DESIGNS_DENIED)]);
});

test('Enable-Workhorse-Circuit-Breaker: on GitLab Shell\'s SSH checks (JWT), refusals and 429s included; never otherwise', async (t) => {
  const config = { plugins: { 'internal-api': { allowedRateLimit: 1 } } };
  await withApp({ config }, async (app) => {
    const own = await seed(app);
    const developer = own.people.developer;
    const body = { action: 'git-upload-pack', key_id: developer.keyId, project: own.projects.private.path };
    const ok = await allowed(app, body);
    t.deepEqual([ok.status, ok.headers.get(CIRCUIT_BREAKER)], [200, 'true']);
    const limited = await allowed(app, body);
    t.deepEqual([limited.status, limited.headers.get(CIRCUIT_BREAKER)], [429, 'true']);
    const denial = await allowed(app, { ...body, key_id: own.people.outsider.keyId });
    t.deepEqual([denial.status, denial.headers.get(CIRCUIT_BREAKER)], [404, 'true']);
    const overHttp = await allowed(app, { ...body, protocol: 'http', key_id: own.people.maintainer.keyId });
    t.deepEqual([overHttp.status, overHttp.headers.get(CIRCUIT_BREAKER)], [200, null]);
    // The legacy shared secret is not GitLab Shell's JWT.
    const secret = app.services['internal-api'].internal.shellSecret;
    const legacy = await app.request(ALLOWED, {
      method: 'POST',
      headers: { 'Gitlab-Shared-Secret': Buffer.from(secret).toString('base64') },
      body: { ...body, key_id: own.people.reporter.keyId, protocol: 'ssh', changes: '_any' },
    });
    t.deepEqual([legacy.status, legacy.headers.get(CIRCUIT_BREAKER)], [200, null]);
    app.flags.set('internal_api_workhorse_circuit_breaker', false);
    const flagOff = await allowed(app, { ...body, key_id: own.people.admin.keyId });
    t.deepEqual([flagOff.status, flagOff.headers.get(CIRCUIT_BREAKER)], [200, null]);
  });
});

test('an unknown action is not allowed', async (t) => {
  const { app, people, projects } = world;
  for (const action of ['git-lfs-authenticate', undefined]) {
    const response = await allowed(app, { action, key_id: people.developer.keyId, project: projects.private.path });
    t.is(response.status, 401);
    t.deepEqual(response.body, denied(COMMAND_NOT_ALLOWED));
  }
});

test('gl_repository wins over project', async (t) => {
  const { app, people, projects } = world;
  const developer = people.developer;
  const response = await allowed(app, {
    action: 'git-receive-pack',
    key_id: developer.keyId,
    project: `${projects.public.path}.git`,
    gl_repository: `project-${projects.private.id}`,
  });
  t.is(response.status, 200);
  t.deepEqual(response.body, success(world, projects.private, { user: developer, keyId: developer.keyId }));
});

test('wiki repositories by path and by gl_repository', async (t) => {
  const { app, people, projects } = world;
  const developer = people.developer;
  const expected = success(world, projects.private, { user: developer, keyId: developer.keyId, wiki: true });
  for (const where of [{ project: `${projects.private.path}.wiki.git` }, { project: `/${projects.private.path}.wiki` }, { gl_repository: `wiki-${projects.private.id}` }]) {
    const response = await allowed(app, { action: 'git-receive-pack', key_id: developer.keyId, ...where });
    t.is(response.status, 200, JSON.stringify(where));
    t.deepEqual(response.body, expected);
  }
  const outsider = await allowed(app, { action: 'git-upload-pack', key_id: people.outsider.keyId, project: `${projects.private.path}.wiki.git` });
  t.is(outsider.status, 404);
  const missing = await allowed(app, { action: 'git-upload-pack', key_id: developer.keyId, project: `${projects.private.path}-nope.wiki.git` });
  t.is(missing.status, 404);
  t.deepEqual(missing.body, denied(NOT_FOUND));
});

// ---------------------------------------------------------------- deploy keys

test('deploy keys: linked read-only pulls, cannot push; can_push pushes; unlinked is 404', async (t) => {
  const { app, projects } = world;
  const readOnly = await api(app, `/api/v4/projects/${projects.private.id}/deploy_keys`, { title: 'ci', key: makeEd25519Key().line });
  const writable = await api(app, `/api/v4/projects/${projects.private.id}/deploy_keys`, { title: 'deployer', key: makeEd25519Key().line, can_push: true });
  const unlinked = await api(app, `/api/v4/projects/${projects.internal.id}/deploy_keys`, { title: 'elsewhere', key: makeEd25519Key().line, can_push: true });

  for (const action of ['git-upload-pack', 'git-upload-archive']) {
    const pull = await allowed(app, { action, key_id: String(readOnly.id), project: `${projects.private.path}.git` });
    t.is(pull.status, 200);
    t.deepEqual(pull.body, success(world, projects.private, { deployKeyId: readOnly.id }));
  }

  const push = await allowed(app, { action: 'git-receive-pack', key_id: readOnly.id, project: projects.private.path });
  t.is(push.status, 401);
  t.deepEqual(push.body, denied(DEPLOY_KEY_READ_ONLY));

  const writablePush = await allowed(app, { action: 'git-receive-pack', key_id: writable.id, project: projects.private.path });
  t.is(writablePush.status, 200);
  t.deepEqual(writablePush.body, success(world, projects.private, { deployKeyId: writable.id }));

  const elsewhere = await allowed(app, { action: 'git-upload-pack', key_id: unlinked.id, project: projects.private.path });
  t.is(elsewhere.status, 404);
  t.deepEqual(elsewhere.body, denied(NOT_FOUND));

  // A public project's code is anyone's, a deploy key's too; pushing there still needs the link.
  const publicPull = await allowed(app, { action: 'git-upload-pack', key_id: unlinked.id, project: projects.public.path });
  t.is(publicPull.status, 200);
  t.deepEqual(publicPull.body, success(world, projects.public, { deployKeyId: unlinked.id }));
  const publicPush = await allowed(app, { action: 'git-receive-pack', key_id: unlinked.id, project: projects.public.path });
  t.is(publicPush.status, 401);
  t.deepEqual(publicPush.body, denied(DEPLOY_KEY_READ_ONLY));

  const row = await app.db('directory_ssh_keys').where({ id: readOnly.id }).first();
  t.truthy(row.last_used_at);
});

// ---------------------------------------------------------------- remembered answers

test('a remembered answer never outlives what it was decided from: blocking, archiving, membership, flags, key expiry', async (t) => {
  await withApp({}, async (app) => {
    const own = await seed(app);
    const { developer, outsider } = own.people;
    const key = await addKey(app, developer.id, new Date(Date.parse(NOW) + 8 * DAY));
    const pull = { action: 'git-upload-pack', key_id: key, project: own.projects.private.path };
    const push = { action: 'git-receive-pack', key_id: key, project: own.projects.private.path };
    const quiet = success(own, own.projects.private, { user: developer, keyId: key });
    for (let i = 0; i < 3; i++) t.deepEqual((await allowed(app, pull)).body, quiet);
    t.is((await allowed(app, push)).status, 200);

    // Writes anywhere in the directory drop what was remembered.
    await api(app, `/api/v4/users/${developer.id}/block`, {});
    t.deepEqual((await allowed(app, pull)).body, denied(BLOCKED));
    await api(app, `/api/v4/users/${developer.id}/unblock`, {});
    t.deepEqual((await allowed(app, pull)).body, quiet);
    await api(app, `/api/v4/projects/${own.projects.private.id}/archive`, {});
    t.deepEqual((await allowed(app, push)).body, denied(ARCHIVED));
    t.deepEqual((await allowed(app, pull)).body, quiet);

    // Refusals are never remembered: a new membership counts at once.
    const outsiderPull = { action: 'git-upload-pack', key_id: outsider.keyId, project: own.projects.private.path };
    t.is((await allowed(app, outsiderPull)).status, 404);
    await api(app, `/api/v4/projects/${own.projects.private.id}/members`, { user_id: outsider.id, access_level: 20 });
    t.is((await allowed(app, outsiderPull)).status, 200);

    // Flags are asked on every request.
    app.flags.set('internal_api_ssh_git_access', false);
    t.deepEqual((await allowed(app, pull)).body, denied(SSH_DISABLED));
    app.flags.set('internal_api_ssh_git_access', true);

    // The clock: the week before expiry brings the warning, expiry the refusal.
    app.clock.advance(DAY + 1);
    t.deepEqual((await allowed(app, pull)).body, { ...quiet, gl_console_messages: [EXPIRES_SOON] });
    app.clock.advance(7 * DAY);
    t.deepEqual((await allowed(app, pull)).body, denied(KEY_EXPIRED));
  });
});

test('a remembered answer still records the key\'s use', async (t) => {
  await withApp({}, async (app) => {
    const own = await seed(app);
    const { developer } = own.people;
    const pull = { action: 'git-upload-pack', key_id: developer.keyId, project: own.projects.private.path };
    const usedAt = async () => new Date((await app.db('directory_ssh_keys').where({ id: developer.keyId }).first()).last_used_at).toISOString();
    t.is((await allowed(app, pull)).status, 200);
    t.is(await usedAt(), NOW);
    app.clock.advance(5 * 60_000);
    t.is((await allowed(app, pull)).status, 200);
    t.is(await usedAt(), new Date(Date.parse(NOW) + 5 * 60_000).toISOString());
  });
});

test('odd param values are answered, never remembered under another value\'s key', async (t) => {
  const { app, people, projects } = world;
  const pull = { action: 'git-upload-pack', project: projects.private.path };
  t.is((await allowed(app, { ...pull, key_id: people.developer.keyId })).status, 200);
  // key_id null or an object is "no such key" (nobody), not "no key_id" — which would try user_id.
  for (const keyId of [null, { id: people.developer.keyId }, [people.developer.keyId]]) {
    const response = await allowed(app, { ...pull, key_id: keyId, user_id: people.developer.id });
    t.is(response.status, 404, JSON.stringify(keyId));
    t.deepEqual(response.body, denied(NOT_FOUND));
  }
  t.is((await allowed(app, { ...pull, user_id: people.developer.id })).status, 200);
});

// ---------------------------------------------------------------- key expiry (own clock)

test('an expired key is refused; a key expiring within 7 days gets the console message', async (t) => {
  await withApp({}, async (app) => {
    const own = await seed(app);
    const developer = own.people.developer;
    const soon = await addKey(app, developer.id, new Date(Date.parse(NOW) + 2 * DAY));
    const later = await addKey(app, developer.id, new Date(Date.parse(NOW) + 30 * DAY));

    const warned = await allowed(app, { action: 'git-upload-pack', key_id: soon, project: own.projects.private.path });
    t.is(warned.status, 200);
    t.deepEqual(warned.body, success(own, own.projects.private, { user: developer, keyId: soon, consoleMessages: [EXPIRES_SOON] }));
    const quiet = await allowed(app, { action: 'git-upload-pack', key_id: later, project: own.projects.private.path });
    t.deepEqual(quiet.body, success(own, own.projects.private, { user: developer, keyId: later }));

    app.clock.advance(3 * DAY);
    for (const project of [own.projects.public.path, 'nowhere/missing']) {
      const expired = await allowed(app, { action: 'git-upload-pack', key_id: soon, project });
      t.is(expired.status, 401);
      t.deepEqual(expired.body, denied(KEY_EXPIRED));
    }
  });
});

// ---------------------------------------------------------------- protocol settings

test('SSH disabled in config: ssh refused (even for unknown projects), http and web allowed', async (t) => {
  await withApp({ config: { plugins: { 'internal-api': { gitAccessProtocol: 'http' } } } }, async (app) => {
    const own = await seed(app);
    const developer = own.people.developer;
    for (const project of [own.projects.private.path, 'nowhere/missing']) {
      const ssh = await allowed(app, { action: 'git-upload-pack', key_id: developer.keyId, project });
      t.is(ssh.status, 401);
      t.deepEqual(ssh.body, denied(SSH_DISABLED));
    }
    for (const protocol of ['http', 'web']) {
      const ok = await allowed(app, { action: 'git-receive-pack', user_id: developer.id, project: own.projects.private.path, protocol });
      t.is(ok.status, 200, protocol);
      t.deepEqual(ok.body, success(own, own.projects.private, { user: developer }));
    }
  });
  await withApp({ config: { plugins: { 'internal-api': { gitAccessProtocol: 'ssh' } } } }, async (app) => {
    const own = await seed(app);
    const http = await allowed(app, { action: 'git-upload-pack', user_id: own.people.developer.id, project: own.projects.public.path, protocol: 'http' });
    t.is(http.status, 401);
    t.deepEqual(http.body, denied('Git access over HTTP is not allowed'));
  });
});

test('the internal_api_ssh_git_access flag off refuses SSH only', async (t) => {
  await withApp({}, async (app) => {
    const own = await seed(app);
    const developer = own.people.developer;
    app.flags.set('internal_api_ssh_git_access', false);
    const ssh = await allowed(app, { action: 'git-upload-pack', key_id: developer.keyId, project: own.projects.private.path });
    t.is(ssh.status, 401);
    t.deepEqual(ssh.body, denied(SSH_DISABLED));
    const http = await allowed(app, { action: 'git-upload-pack', key_id: developer.keyId, project: own.projects.private.path, protocol: 'http' });
    t.is(http.status, 200);
    app.flags.set('internal_api_ssh_git_access', true);
    const again = await allowed(app, { action: 'git-upload-pack', key_id: developer.keyId, project: own.projects.private.path });
    t.is(again.status, 200);
  });
});

// ---------------------------------------------------------------- params, auth, limits

test('gitaly_client_context_bin must be base64 of a JSON object', async (t) => {
  const { app, people, projects } = world;
  const base = { action: 'git-upload-pack', key_id: people.developer.keyId, project: projects.private.path };
  const malformed = await allowed(app, { ...base, gitaly_client_context_bin: Buffer.from('not json').toString('base64') });
  t.is(malformed.status, 400);
  t.deepEqual(malformed.body, { message: '400 Bad request - malformed gitaly_client_context_bin' });
  const notObject = await allowed(app, { ...base, gitaly_client_context_bin: Buffer.from('[1,2]').toString('base64') });
  t.is(notObject.status, 400);
  t.deepEqual(notObject.body, { message: '400 Bad request - Decoded gitaly_client_context_bin is not a valid JSON object' });
  const good = await allowed(app, { ...base, gitaly_client_context_bin: Buffer.from('{"x":1}').toString('base64'), env: '{not json', push_options: ['ci.skip'], namespace_path: 'x' });
  t.is(good.status, 200);
});

test('no credentials, a wrong secret or a user token: 401 Unauthorized', async (t) => {
  const { app, people, projects } = world;
  const body = { action: 'git-upload-pack', key_id: people.developer.keyId, project: projects.public.path, protocol: 'ssh' };
  const anonymous = await app.request(ALLOWED, { method: 'POST', body });
  t.is(anonymous.status, 401);
  t.deepEqual(anonymous.body, UNAUTHORIZED);
  const wrongSecret = await app.request(ALLOWED, { method: 'POST', body, headers: { 'Gitlab-Shell-Api-Request': await shellJwt(app, { secret: 'wrong' }) } });
  t.is(wrongSecret.status, 401);
  t.deepEqual(wrongSecret.body, UNAUTHORIZED);
  const { plaintext } = await createUserWithToken(app, ['api'], { admin: true });
  for (const auth of ['private-token', 'bearer'] as const) {
    const pat = await app.request(ALLOWED, { method: 'POST', body, token: plaintext, auth });
    t.is(pat.status, 401);
    t.deepEqual(pat.body, UNAUTHORIZED);
  }
  const root = await app.request(ALLOWED, { method: 'POST', body, token: ROOT_TOKEN });
  t.is(root.status, 401);
});

test('rate limit per action, project and actor; receive.maxInputSize and the Gitaly token from config', async (t) => {
  const config = { plugins: { 'internal-api': { allowedRateLimit: 2, receiveMaxInputSizeMb: 3, gitalyTokenFile: '.gitaly_token' } } };
  await withApp({ config }, async (app) => {
    const own = await seed(app);
    const developer = own.people.developer;
    const body = { action: 'git-upload-pack', key_id: developer.keyId, project: own.projects.private.path };
    const first = await allowed(app, body);
    t.is(first.status, 200);
    const token = app.services['internal-api'].internal.gitalyToken;
    t.regex(token, /^[0-9a-f]{32}$/);
    const expected = success(own, own.projects.private, { user: developer, keyId: developer.keyId });
    t.deepEqual(first.body, {
      ...expected,
      git_config_options: [...GIT_CONFIG, 'receive.maxInputSize=3145728'],
      gitaly: { ...expected.gitaly, token },
    });
    t.is((await allowed(app, body)).status, 200);
    const third = await allowed(app, body);
    t.is(third.status, 429);
    t.deepEqual(third.body, RATE_LIMITED);
    t.is(third.headers.get('retry-after'), '60');
    // Another action, project or actor has its own budget.
    t.is((await allowed(app, { ...body, action: 'git-receive-pack' })).status, 200);
    t.is((await allowed(app, { ...body, project: own.projects.public.path })).status, 200);
    t.is((await allowed(app, { ...body, key_id: own.people.maintainer.keyId })).status, 200);
  });
});

// ---------------------------------------------------------------- push to create

const CREATE_FAILED_PATH =
  "Could not create project: Path can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'";

/** The project at `path` as its owner sees it through the API (status and body). */
async function projectViaApi(app: TestApp, path: string, token: string = ROOT_TOKEN) {
  return app.request(`/api/v4/projects/${encodeURIComponent(path)}`, { token });
}

test('push to create: a push to an unknown project in the pusher\'s own namespace creates it, private', async (t) => {
  const { app } = world;
  const { user, plaintext } = await createUserWithToken(app, ['api']);
  const keyId = await addKey(app, user.id);
  const path = `${user.username}/brand-new`;
  const response = await allowed(app, { action: 'git-receive-pack', key_id: keyId, project: `/${path}.git` });
  t.is(response.status, 200);
  const created = await projectViaApi(app, path, plaintext);
  t.is(created.status, 200);
  t.is(created.body.path_with_namespace, path);
  t.is(created.body.name, 'brand-new');
  t.is(created.body.visibility, 'private');
  const namespace = await app.services.directory.projects.findUserNamespace(user.id);
  const own = { app, groupId: namespace!.id, projects: world.projects, people: world.people };
  t.deepEqual(response.body, success(own, { id: created.body.id, path }, { user: { id: user.id, username: user.username, keyId }, keyId }));
  t.is(response.body.gl_repository, `project-${created.body.id}`);
  // The project now exists: the next push is the ordinary one, nothing created twice.
  const again = await allowed(app, { action: 'git-receive-pack', user_id: user.id, project: path });
  t.is(again.status, 200);
  t.is(again.body.gl_project_id, created.body.id);
});

test('push to create: the push\'s post_receive tells the pusher once how to add the remote (SSH or HTTP URL)', async (t) => {
  const { app } = world;
  const { user } = await createUserWithToken(app, ['api']);
  const keyId = await addKey(app, user.id);
  for (const [protocol, remote] of [
    ['ssh', (path: string) => `git@gatehouse.test:${path}.git`],
    ['http', (path: string) => `${EXTERNAL_URL}/${path}.git`],
  ] as const) {
    const path = `${user.username}/created-over-${protocol}`;
    const created = await allowed(app, { action: 'git-receive-pack', key_id: keyId, project: `${path}.git`, protocol });
    t.is(created.status, 200);
    const postReceive = (identifier: string) =>
      shellHeaders(app).then((headers) =>
        app.request('/api/v4/internal/post_receive', {
          method: 'POST',
          headers,
          body: { gl_repository: created.body.gl_repository, identifier, changes: `${'0'.repeat(40)} ${'a'.repeat(40)} refs/heads/main`, push_options: null },
        }),
      );
    // Another user's post-receive for the same repository does not see it.
    t.deepEqual((await postReceive(`user-${world.people.admin.id}`)).body, { messages: [], reference_counter_decreased: true });
    const first = await postReceive(`key-${keyId}`);
    t.is(first.status, 200);
    t.deepEqual(first.body, {
      messages: [
        {
          message: `\nThe private project ${path} was successfully created.\n\nTo configure the remote, run:\n  git remote add origin ${remote(path)}\n\nTo view the project, visit:\n  ${EXTERNAL_URL}/${path}\n\n`,
          type: 'basic',
        },
      ],
      reference_counter_decreased: true,
    });
    t.deepEqual((await postReceive(`user-${user.id}`)).body.messages, [], 'shown once');
  }
});

test('push to create in a group: maintainers (and admins) may, developers get 404 and nothing is created', async (t) => {
  const { app, people, groupId } = world;
  const group = await app.services.directory.projects.findNamespaceById(groupId);
  for (const role of ['developer', 'reporter', 'outsider'] as Role[]) {
    const path = `${group!.fullPath}/by-${role}`;
    const response = await allowed(app, { action: 'git-receive-pack', key_id: people[role].keyId, project: `${path}.git` });
    t.is(response.status, 404, role);
    t.deepEqual(response.body, denied(NOT_FOUND));
    t.is((await projectViaApi(app, path)).status, 404, role);
  }
  for (const role of ['maintainer', 'admin'] as Role[]) {
    const path = `${group!.fullPath}/by-${role}`;
    const response = await allowed(app, { action: 'git-receive-pack', key_id: people[role].keyId, project: `${path}.git` });
    t.is(response.status, 200, role);
    const created = await projectViaApi(app, path);
    t.is(created.status, 200, role);
    t.is(created.body.visibility, 'private');
    t.deepEqual(response.body, success(world, { id: created.body.id, path }, { user: people[role], keyId: people[role].keyId }));
  }
});

test('push to create: a path the model refuses is 422 "Could not create project: …"', async (t) => {
  const { app } = world;
  const { user } = await createUserWithToken(app, ['api']);
  const keyId = await addKey(app, user.id);
  for (const project of [`${user.username}/refused.atom.git`, `${user.username}/x.git.git`]) {
    const response = await allowed(app, { action: 'git-receive-pack', key_id: keyId, project });
    t.is(response.status, 422, project);
    t.deepEqual(response.body, denied(CREATE_FAILED_PATH));
  }
  // Name and path both refused: every message, joined as Rails' full_messages.
  const dashed = await allowed(app, { action: 'git-receive-pack', key_id: keyId, project: `${user.username}/-bad.git` });
  t.is(dashed.status, 422);
  t.deepEqual(
    dashed.body,
    denied(
      "Could not create project: Name can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must start with a letter, digit, emoji, or '_'., " +
        CREATE_FAILED_PATH.slice('Could not create project: '.length),
    ),
  );
  t.is(await app.db('directory_projects').where({ creator_id: user.id }).count('* as n').first().then((row: any) => Number(row.n)), 0);
});

test('push to create never happens for pulls, deploy keys, nobody, wikis, snippets, unknown namespaces or real changes', async (t) => {
  const { app, projects } = world;
  const { user } = await createUserWithToken(app, ['api']);
  const keyId = await addKey(app, user.id);
  const deployKey = await api(app, `/api/v4/projects/${projects.private.id}/deploy_keys`, { title: 'pusher', key: makeEd25519Key().line, can_push: true });
  const mine = (name: string) => `${user.username}/${name}`;
  for (const [label, body] of [
    ['pull', { action: 'git-upload-pack', key_id: keyId, project: `${mine('pulled')}.git` }],
    ['archive', { action: 'git-upload-archive', key_id: keyId, project: mine('archived') }],
    ['deploy key', { action: 'git-receive-pack', key_id: deployKey.id, project: mine('deployed') }],
    ['nobody', { action: 'git-receive-pack', key_id: 0, project: mine('nobody') }],
    ['wiki', { action: 'git-receive-pack', key_id: keyId, project: `${mine('wikied')}.wiki.git` }],
    ['snippet', { action: 'git-receive-pack', key_id: keyId, project: 'snippets/notexist.git' }],
    ['design', { action: 'git-receive-pack', key_id: keyId, project: `${mine('designed')}.design.git`, protocol: 'web' }],
    ['unknown namespace', { action: 'git-receive-pack', key_id: keyId, project: `nowhere-${user.username}/x.git` }],
    ['no namespace', { action: 'git-receive-pack', key_id: keyId, project: 'lonely.git' }],
    // GitLab creates only on GitLab Shell's `_any` check, not on a check with the pushed changes.
    ['real changes', { action: 'git-receive-pack', key_id: keyId, project: mine('changed'), changes: `${'0'.repeat(40)} ${'a'.repeat(40)} refs/heads/main` }],
    ['gl_repository', { action: 'git-receive-pack', key_id: keyId, gl_repository: 'project-999999', project: mine('by-gl-repository') }],
  ] as Array<[string, Record<string, unknown>]>) {
    const response = await allowed(app, body);
    t.is(response.status, 404, label);
    t.deepEqual(response.body, denied(NOT_FOUND), label);
  }
  t.is(await app.db('directory_projects').where({ creator_id: user.id }).count('* as n').first().then((row: any) => Number(row.n)), 0);
  t.is((await projectViaApi(app, mine('pulled'))).status, 404);
  t.is((await projectViaApi(app, mine('deployed'))).status, 404);
});
