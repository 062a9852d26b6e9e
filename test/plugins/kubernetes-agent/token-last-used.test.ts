import test from 'ava';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { agentFixture, kasJwt } from './_support.js';

let app: TestApp;
test.before(async () => {
  app = await startTestApp();
});
test.after.always(async () => {
  await app?.close();
});

test('an agent token\'s last use shows in its entity at once; the listing keeps GitLab\'s basic entity', async (t) => {
  const f = await agentFixture(app);
  const tokenPath = `/api/v4/projects/${f.project.id}/cluster_agents/${f.agent.id}/tokens/${f.token.id}`;
  const before = await app.request(tokenPath, { token: f.maintainer.plaintext });
  t.is(before.status, 200);
  t.is(before.body.last_used_at, null);

  app.clock.advance(5_000);
  const used = await app.request('/api/v4/internal/kubernetes/agent_info', {
    headers: { 'Gitlab-Kas-Api-Request': await kasJwt(app), 'Gitlab-Agent-Api-Request': f.agentToken },
  });
  t.is(used.status, 200);

  const after = await app.request(tokenPath, { token: f.maintainer.plaintext });
  t.is(after.body.last_used_at, app.clock.now().toISOString());
  const row = await app.db('kubernetes_agent_tokens').where({ id: f.token.id }).first();
  t.is(new Date(row.last_used_at).toISOString(), app.clock.now().toISOString());

  // GitLab's AgentTokenBasic (lib/api/entities/clusters/agent_token_basic.rb) has no last_used_at.
  const listed = await app.request(`/api/v4/projects/${f.project.id}/cluster_agents/${f.agent.id}/tokens`, { token: f.maintainer.plaintext });
  t.deepEqual(Object.keys(listed.body[0]).sort(), ['agent_id', 'created_at', 'created_by_user_id', 'description', 'id', 'name', 'status']);
});
