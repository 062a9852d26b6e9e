import test from 'ava';
import { EXTERNAL_URL, ROOT_TOKEN, startTestApp } from '../../helpers/app.js';
import { GRAPHQL, UNAUTHORIZED, disableForUser, insufficientScope, post, userWithToken } from './_support.js';
import type { TestApp } from '../../helpers/app.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ flags: { some_ops_flag: true } });
});
test.after.always(async () => {
  await app?.close();
});

const query = (token: string, body: unknown) => post(app, GRAPHQL, { token, body });

/** A query as the Language Server sends it: its operation name (the document's) and variables. */
const lsQuery = (target: TestApp, token: string, document: string, variables?: Record<string, unknown>) =>
  post(target, GRAPHQL, { token, body: { operationName: /^query (\w+)/.exec(document)?.[1], query: document, variables } });

// The Language Server's documents, verbatim.
const FEATURE_FLAGS = 'query featureFlagsEnabled($names: [String!]!) { metadata { featureFlags(names: $names) { enabled name } } }';
const FEATURE_FLAG = 'query featureFlagEnabled($name: String!) { featureFlagEnabled(name: $name) }';
const GET_USER =
  'query getUser { currentUser { id username name avatarUrl webUrl userPreferences @gl_introduced(version: "18.10.0") { duoDefaultNamespace { id fullName fullPath } } } }';
const DUO_FEATURES = 'query getDuoAvailableFeatures { currentUser { duoChatAvailableFeatures codeSuggestionsContexts } }';
const DUO_CHAT_FEATURES = 'query getDuoChatAvailableFeatures { currentUser { duoChatAvailableFeatures } }';
const GET_PROJECT = 'query GetProject($projectPath: ID!) { project(fullPath: $projectPath) { duoFeaturesEnabled } }';
const GET_PROJECTS = 'query GetProjectsDuoEnabledStatusById($projectIds: [ID!]!) { projects(ids: $projectIds) { edges { node { id duoFeaturesEnabled } } } }';

async function createProject(token: string, body: Record<string, unknown>) {
  const response = await app.request('/api/v4/projects', { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`POST /projects answered ${response.status}: ${response.text}`);
  return response.body as { id: number; path_with_namespace: string };
}

/** A group made by root, with the user as a maintainer, optionally below a parent and with Code Suggestions off. */
async function groupWith(userId: number, body: { name: string; path: string; parent_id?: number; code_suggestions?: boolean }) {
  const group = await app.request('/api/v4/groups', { method: 'POST', token: ROOT_TOKEN, body });
  if (group.status !== 201) throw new Error(`POST /groups answered ${group.status}: ${group.text}`);
  const member = await app.request(`/api/v4/groups/${group.body.id}/members`, { method: 'POST', token: ROOT_TOKEN, body: { user_id: userId, access_level: 40 } });
  if (member.status !== 201) throw new Error(`POST /groups/:id/members answered ${member.status}: ${member.text}`);
  return group.body as { id: number; full_path: string; name: string };
}

test('graphql: 401 without credentials; read_api is enough (queries only); read_user is not', async (t) => {
  const anonymous = await post(app, GRAPHQL, { body: { query: '{ currentUser { username } }' } });
  t.is(anonymous.status, 401);
  t.deepEqual(anonymous.body, UNAUTHORIZED);
  const readApi = await userWithToken(app, ['read_api']);
  t.is((await query(readApi.plaintext, { query: '{ currentUser { username } }' })).status, 200);
  const readUser = await userWithToken(app, ['read_user']);
  const refused = await query(readUser.plaintext, { query: '{ currentUser { username } }' });
  t.is(refused.status, 403);
  t.deepEqual(refused.body, insufficientScope('api read_api ai_features'));
});

test('graphql: the Language Server\'s suggestionsAvailable query answers from the user\'s namespaces', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const body = { query: 'query suggestionsAvailable { currentUser { duoCodeSuggestionsAvailable } }', operationName: 'suggestionsAvailable' };
  const on = await query(plaintext, body);
  t.is(on.status, 200);
  t.deepEqual(on.body, { data: { currentUser: { duoCodeSuggestionsAvailable: true } } });
  await disableForUser(app, user.id, ROOT_TOKEN);
  t.deepEqual((await query(plaintext, body)).body, { data: { currentUser: { duoCodeSuggestionsAvailable: false } } });
});

test('graphql: duoCodeSuggestionsAvailable is false while ai_duo_code_suggestions_switch is off', async (t) => {
  const off = await startTestApp({ flags: { ai_duo_code_suggestions_switch: false } });
  try {
    const { plaintext } = await userWithToken(off);
    const response = await post(off, GRAPHQL, { token: plaintext, body: { query: '{ currentUser { duoCodeSuggestionsAvailable ide { codeSuggestionsEnabled } } }' } });
    t.deepEqual(response.body, { data: { currentUser: { duoCodeSuggestionsAvailable: false, ide: { codeSuggestionsEnabled: false } } } });
  } finally {
    await off.close();
  }
});

test('graphql: featureFlagsEnabled (metadata.featureFlags) answers for declared flags only, as set for the user', async (t) => {
  const { plaintext } = await userWithToken(app);
  // some_ops_flag is set in this app but declared by no manifest; unknown_flag is nowhere.
  const names = ['code_suggestions_context', 'some_ops_flag', 'unknown_flag', 'ai_duo_code_suggestions_switch'];
  const on = await lsQuery(app, plaintext, FEATURE_FLAGS, { names });
  t.is(on.status, 200);
  t.deepEqual(on.body, {
    data: {
      metadata: {
        featureFlags: [
          { enabled: true, name: 'code_suggestions_context' },
          { enabled: true, name: 'ai_duo_code_suggestions_switch' },
        ],
      },
    },
  });
  t.deepEqual((await lsQuery(app, plaintext, FEATURE_FLAGS, { names: [] })).body, { data: { metadata: { featureFlags: [] } } });

  const off = await startTestApp({ flags: { code_suggestions_context: false } });
  try {
    const other = await userWithToken(off);
    const response = await lsQuery(off, other.plaintext, FEATURE_FLAGS, { names: ['code_suggestions_context'] });
    t.is(response.status, 200);
    t.deepEqual(response.body, { data: { metadata: { featureFlags: [{ enabled: false, name: 'code_suggestions_context' }] } } });
  } finally {
    await off.close();
  }
});

test('graphql: featureFlagsEnabled with more than 20 names is an error on the field', async (t) => {
  const { plaintext } = await userWithToken(app);
  const twenty = Array.from({ length: 20 }, (_, i) => (i === 0 ? 'code_suggestions_context' : `flag_${i}`));
  t.deepEqual((await lsQuery(app, plaintext, FEATURE_FLAGS, { names: twenty })).body, {
    data: { metadata: { featureFlags: [{ enabled: true, name: 'code_suggestions_context' }] } },
  });
  const response = await lsQuery(app, plaintext, FEATURE_FLAGS, { names: [...twenty, 'flag_20'] });
  t.is(response.status, 200);
  t.deepEqual(response.body, {
    errors: [{ message: 'names is too long (maximum is 20)', locations: [{ line: 1, column: 60 }], path: ['metadata', 'featureFlags'] }],
    data: { metadata: null },
  });
});

test('graphql: the older featureFlagEnabled(name:) still answers from the flag resolver', async (t) => {
  const { plaintext } = await userWithToken(app);
  t.deepEqual((await lsQuery(app, plaintext, FEATURE_FLAG, { name: 'code_suggestions_context' })).body, { data: { featureFlagEnabled: true } });
  t.deepEqual((await lsQuery(app, plaintext, FEATURE_FLAG, { name: 'unknown_flag' })).body, { data: { featureFlagEnabled: false } });
});

test('graphql: getUser as the Language Server asks it: userPreferences, introduced in 18.10.0, is null on 17.11.0', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const response = await lsQuery(app, plaintext, GET_USER);
  t.is(response.status, 200);
  t.deepEqual(response.body, {
    data: {
      currentUser: {
        id: `gid://gitlab/User/${user.id}`,
        username: user.username,
        name: user.name,
        avatarUrl: null,
        webUrl: `${EXTERNAL_URL}/${user.username}`,
        userPreferences: null,
      },
    },
  });
  const rest = await app.request('/api/v4/user', { token: plaintext });
  t.is(response.body.data.currentUser.webUrl, rest.body.web_url, 'webUrl is the REST API\'s web_url');
  t.is(rest.body.avatar_url, null);
});

test('graphql: @gl_introduced with the current version or an older one answers the field', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  for (const version of ['17.11.0', '17.10.2', '16.0.0']) {
    const response = await query(plaintext, {
      query: `query getUser { currentUser { username userPreferences @gl_introduced(version: "${version}") { duoDefaultNamespace { id fullName fullPath } } } }`,
    });
    t.deepEqual(response.body, { data: { currentUser: { username: user.username, userPreferences: { duoDefaultNamespace: null } } } }, version);
  }
  const notAVersion = await query(plaintext, { query: '{ currentUser { username @gl_introduced(version: "next") publicEmail bot } }' });
  t.deepEqual(notAVersion.body, { data: { currentUser: { username: user.username, publicEmail: null, bot: false } } }, 'a version that is not X.Y.Z is ignored, as in GitLab');
});

test('graphql: fields of later versions are null even when this schema lacks them, and their variables are not unused', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const response = await query(plaintext, {
    query: `query later($names: [String!]!, $later: String) {
      currentUser {
        username
        duoNextThing(arg: $later) @gl_introduced(version: "17.11.1") { anything }
        renamed: name @gl_introduced(version: "18.0.0")
        ... @gl_introduced(version: "19.0.0") { bot futureFlag }
        ...userFields
      }
      metadata { featureFlags(names: $names) @gl_introduced(version: "18.0.0") { name } }
    }
    fragment userFields on CurrentUser { id }`,
    variables: { names: ['code_suggestions_context'], later: 'x' },
  });
  t.is(response.status, 200);
  t.deepEqual(response.body, {
    data: {
      currentUser: { username: user.username, duoNextThing: null, renamed: null, bot: null, futureFlag: null, id: `gid://gitlab/User/${user.id}` },
      metadata: { featureFlags: null },
    },
  });
  t.deepEqual(Object.keys(response.body.data.currentUser), ['username', 'duoNextThing', 'renamed', 'bot', 'futureFlag', 'id'], 'keys keep their order');
  const unknownNow = await query(plaintext, { query: '{ currentUser { duoNextThing @gl_introduced(version: "17.11.0") } }' });
  t.deepEqual(unknownNow.body, {
    errors: [{ message: 'Cannot query field "duoNextThing" on type "CurrentUser".', locations: [{ line: 1, column: 17 }] }],
  });
});

test('graphql: a user in one top-level group has it as duoDefaultNamespace (asked without the directive)', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const root = await groupWith(user.id, { name: `Duo ${user.id}`, path: `duo-${user.id}` });
  await groupWith(user.id, { name: 'Sub', path: 'sub', parent_id: root.id });
  const document = 'query getUser { currentUser { userPreferences { duoDefaultNamespace { id fullName fullPath } } } }';
  t.deepEqual((await query(plaintext, { query: document })).body, {
    data: { currentUser: { userPreferences: { duoDefaultNamespace: { id: `gid://gitlab/Group/${root.id}`, fullName: `Duo ${user.id}`, fullPath: `duo-${user.id}` } } } },
  });
  await groupWith(user.id, { name: `Other ${user.id}`, path: `other-${user.id}` });
  t.deepEqual((await query(plaintext, { query: document })).body, { data: { currentUser: { userPreferences: { duoDefaultNamespace: null } } } }, 'two candidates: none chosen');
});

test('graphql: chatAvailable, and the Duo features (getDuoAvailableFeatures, getDuoChatAvailableFeatures)', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const chat = await lsQuery(app, plaintext, 'query chatAvailable { currentUser { duoChatAvailable } }');
  t.deepEqual(chat.body, { data: { currentUser: { duoChatAvailable: false } } });
  const features = await lsQuery(app, plaintext, DUO_FEATURES);
  t.is(features.status, 200);
  t.deepEqual(features.body, { data: { currentUser: { duoChatAvailableFeatures: [], codeSuggestionsContexts: ['file', 'snippet'] } } });
  t.deepEqual((await lsQuery(app, plaintext, DUO_CHAT_FEATURES)).body, { data: { currentUser: { duoChatAvailableFeatures: [] } } });
  await disableForUser(app, user.id, ROOT_TOKEN);
  t.deepEqual((await lsQuery(app, plaintext, DUO_FEATURES)).body, { data: { currentUser: { duoChatAvailableFeatures: [], codeSuggestionsContexts: [] } } });
  const metadata = await query(plaintext, { query: '{ metadata { version enterprise } }' });
  t.deepEqual(metadata.body, { data: { metadata: { version: '17.11.0', enterprise: true } } });
});

test('graphql: codeSuggestionsContexts is empty while code_suggestions_context is off', async (t) => {
  const off = await startTestApp({ flags: { code_suggestions_context: false } });
  try {
    const { plaintext } = await userWithToken(off);
    const response = await lsQuery(off, plaintext, DUO_FEATURES);
    t.deepEqual(response.body, { data: { currentUser: { duoChatAvailableFeatures: [], codeSuggestionsContexts: [] } } });
  } finally {
    await off.close();
  }
});

test('graphql: GetProject answers duoFeaturesEnabled for a visible project, null for an unknown or invisible one', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const stranger = await userWithToken(app);
  const mine = await createProject(plaintext, { name: 'Mine', path: 'mine', visibility: 'private' });
  const open = await createProject(plaintext, { name: 'Open', path: 'open', visibility: 'public' });
  const off = await groupWith(user.id, { name: `Off ${user.id}`, path: `off-${user.id}`, code_suggestions: false });
  const inOff = await createProject(plaintext, { name: 'In Off', path: 'in-off', namespace_id: off.id });
  const cases: Array<[string, string, unknown]> = [
    [plaintext, mine.path_with_namespace, { duoFeaturesEnabled: true }],
    [plaintext, inOff.path_with_namespace, { duoFeaturesEnabled: false }],
    [plaintext, `${user.username}/missing`, null],
    [stranger.plaintext, mine.path_with_namespace, null],
    [stranger.plaintext, open.path_with_namespace, { duoFeaturesEnabled: true }],
  ];
  for (const [token, projectPath, project] of cases) {
    const response = await lsQuery(app, token, GET_PROJECT, { projectPath });
    t.is(response.status, 200, projectPath);
    t.deepEqual(response.body, { data: { project } }, projectPath);
  }
});

test('graphql: GetProjectsDuoEnabledStatusById answers the visible projects among the ids, newest first', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const stranger = await userWithToken(app);
  const mine = await createProject(plaintext, { name: 'One', path: 'one', visibility: 'private' });
  const off = await groupWith(user.id, { name: `Off ${user.id}`, path: `off-${user.id}`, code_suggestions: false });
  const inOff = await createProject(plaintext, { name: 'Two', path: 'two', namespace_id: off.id });
  const hidden = await createProject(stranger.plaintext, { name: 'Hidden', path: 'hidden', visibility: 'private' });
  const projectIds = [mine.id, hidden.id, inOff.id, 999_999, mine.id].map((id) => `gid://gitlab/Project/${id}`);
  const response = await lsQuery(app, plaintext, GET_PROJECTS, { projectIds });
  t.is(response.status, 200);
  t.deepEqual(response.body, {
    data: {
      projects: {
        edges: [
          { node: { id: `gid://gitlab/Project/${inOff.id}`, duoFeaturesEnabled: false } },
          { node: { id: `gid://gitlab/Project/${mine.id}`, duoFeaturesEnabled: true } },
        ],
      },
    },
  });
  t.deepEqual((await lsQuery(app, plaintext, GET_PROJECTS, { projectIds: [] })).body, { data: { projects: { edges: [] } } });
  const nodes = await query(plaintext, { query: `{ projects(ids: ["gid://gitlab/Project/${mine.id}"]) { nodes { id } } }` });
  t.deepEqual(nodes.body, { data: { projects: { nodes: [{ id: `gid://gitlab/Project/${mine.id}` }] } } });
});

test('graphql: projects(ids:) with an id that is not a project\'s global id is an error on the field', async (t) => {
  const { plaintext } = await userWithToken(app);
  const cases: Array<[string, string]> = [
    ['42', '42 is not a valid GitLab ID.'],
    ['gid://gitlab/Group/1', 'gid://gitlab/Group/1 is not a valid ID for Project.'],
  ];
  for (const [id, message] of cases) {
    const response = await lsQuery(app, plaintext, GET_PROJECTS, { projectIds: [id] });
    t.is(response.status, 200);
    t.deepEqual(response.body, { errors: [{ message, locations: [{ line: 1, column: 62 }], path: ['projects'] }], data: { projects: null } }, id);
  }
});

test('graphql: unknown fields, syntax errors and bad variables are GraphQL errors, never a 500', async (t) => {
  const { plaintext } = await userWithToken(app);
  // featureFlagsEnabled(names:) is not GitLab's: its flags are under metadata.
  const unknown = await query(plaintext, { query: '{ featureFlagsEnabled(names: ["a"]) { name } }' });
  t.is(unknown.status, 200);
  t.deepEqual(unknown.body, {
    errors: [{ message: 'Cannot query field "featureFlagsEnabled" on type "Query". Did you mean "featureFlagEnabled"?', locations: [{ line: 1, column: 3 }] }],
  });
  const syntax = await query(plaintext, { query: '{ currentUser { ' });
  t.is(syntax.status, 200);
  t.deepEqual(syntax.body, { errors: [{ message: 'Syntax Error: Expected Name, found <EOF>.', locations: [{ line: 1, column: 17 }] }] });
  const variables = await query(plaintext, { query: 'query q($name: String!) { featureFlagEnabled(name: $name) }', variables: {} });
  t.is(variables.status, 200);
  t.deepEqual(variables.body, { errors: [{ message: 'Variable "$name" of required type "String!" was not provided.', locations: [{ line: 1, column: 9 }] }] });
  const mutation = await query(plaintext, { query: 'mutation { createThing }' });
  t.is(mutation.status, 200);
  t.deepEqual(mutation.body, { data: null, errors: [{ message: 'Schema is not configured to execute mutation operation.', locations: [{ line: 1, column: 1 }] }] });
});

test('graphql: a request without a query → 400 with a GraphQL error body', async (t) => {
  const { plaintext } = await userWithToken(app);
  for (const body of [{}, { query: '' }, { query: 42 }, [{ query: '{ metadata { version } }' }]]) {
    const response = await query(plaintext, body);
    t.is(response.status, 400, JSON.stringify(body));
    t.deepEqual(response.body, { errors: [{ message: 'No query string was present' }] });
  }
  const badVariables = await query(plaintext, { query: '{ metadata { version } }', variables: [1] });
  t.is(badVariables.status, 400);
  t.deepEqual(badVariables.body, { errors: [{ message: 'Variables must be an object' }] });
});
