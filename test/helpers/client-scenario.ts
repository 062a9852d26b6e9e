import type { TestApp } from './app.js';

/**
 * What a client-library scenario (test/clients/python-gitlab/, test/clients/go-gitlab/) leaves in the
 * database, read back so its test can check that what the library reported is what was stored. The
 * scenarios name everything with their prefix: `<prefix>_user_0`, `<Prefix> App`, `<prefix>-group`.
 */
export async function clientScenarioState(app: TestApp, prefix: 'py' | 'go') {
  const title = prefix[0].toUpperCase() + prefix.slice(1);
  const alice = await app.db('directory_users').where({ username: `${prefix}_user_0` }).first('id', 'name', 'state');
  const tokens = await app.db('tokens_personal_access_tokens').where({ user_id: alice.id }).orderBy('id').select('name', 'impersonation', 'revoked');
  const project = await app.db('directory_projects').where({ full_path: `${prefix}-group/${prefix}-project` }).first('archived');
  const group = await app.db('directory_namespaces').where({ full_path: `${prefix}-group` }).first('description');
  return {
    alice: { name: alice.name, state: alice.state },
    tokens: tokens.map((row) => ({ name: row.name, impersonation: Boolean(row.impersonation), revoked: Boolean(row.revoked) })),
    deletedUserRows: (await app.db('directory_users').where({ username: `${prefix}_user_2` })).length,
    applicationRows: (await app.db('oauth_applications').where({ name: `${title} App` })).length,
    keyRows: (await app.db('directory_ssh_keys').where({ title: `${prefix} laptop` })).length,
    projectArchived: Boolean(project.archived),
    groupDescription: group.description,
    // Deleted through the library: marked for deletion (renamed), not yet removed.
    doomedGroupMarked: (await app.db('directory_namespaces').whereNotNull('marked_for_deletion_at').where('path', 'like', `${prefix}-doomed-deletion_scheduled-%`)).length === 1,
    groupMemberLevels: (
      await app
        .db('directory_members as m')
        .join('directory_users as u', 'u.id', 'm.user_id')
        .join('directory_namespaces as n', 'n.id', 'm.source_id')
        .where({ 'm.source_type': 'namespace', 'n.full_path': `${prefix}-group` })
        .orderBy('u.username')
        .select('u.username', 'm.access_level')
    ).map((row) => [row.username, Number(row.access_level)]),
  };
}
