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

test('graphql: feature flags from the flag resolver, one or several at once', async (t) => {
  const { plaintext } = await userWithToken(app);
  const single = await query(plaintext, {
    query: 'query featureFlagsEnabled($name: String!) { featureFlagEnabled(name: $name) }',
    variables: { name: 'code_suggestions_context' },
  });
  t.deepEqual(single.body, { data: { featureFlagEnabled: true } });
  const several = await query(plaintext, {
    query: 'query featureFlagsEnabled($names: [String!]!) { featureFlagsEnabled(names: $names) { name enabled } }',
    variables: { names: ['code_suggestions_context', 'some_ops_flag', 'unknown_flag'] },
  });
  t.deepEqual(several.body, {
    data: {
      featureFlagsEnabled: [
        { name: 'code_suggestions_context', enabled: true },
        { name: 'some_ops_flag', enabled: true },
        { name: 'unknown_flag', enabled: false },
      ],
    },
  });
});

test('graphql: getUser and chatAvailable answer truthfully (Duo Chat is not served here)', async (t) => {
  const { user, plaintext } = await userWithToken(app);
  const getUser = await query(plaintext, { query: 'query getUser { currentUser { id username name webUrl publicEmail bot } }' });
  t.deepEqual(getUser.body, {
    data: {
      currentUser: {
        id: `gid://gitlab/User/${user.id}`,
        username: user.username,
        name: user.name,
        webUrl: `${EXTERNAL_URL}/${user.username}`,
        publicEmail: null,
        bot: false,
      },
    },
  });
  const chat = await query(plaintext, { query: 'query chatAvailable { currentUser { duoChatAvailable } }' });
  t.deepEqual(chat.body, { data: { currentUser: { duoChatAvailable: false } } });
  const metadata = await query(plaintext, { query: '{ metadata { version enterprise } }' });
  t.deepEqual(metadata.body, { data: { metadata: { version: '17.11.0', enterprise: true } } });
});

test('graphql: unknown fields, syntax errors and bad variables are GraphQL errors, never a 500', async (t) => {
  const { plaintext } = await userWithToken(app);
  const unknown = await query(plaintext, { query: '{ project(fullPath: "a/b") { id } }' });
  t.is(unknown.status, 200);
  t.deepEqual(unknown.body, { errors: [{ message: 'Cannot query field "project" on type "Query".', locations: [{ line: 1, column: 3 }] }] });
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
