import type { TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

/** A user and the plaintext of one of their tokens. */
export interface TestUser {
  id: number;
  username: string;
  token: string;
}

let counter = 0;
/** A path no other fixture takes: counted within a test file, random across the files and runs sharing a database. */
export const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 7)}`;

export async function newUser(app: TestApp, scopes: string[] = ['api']): Promise<TestUser> {
  const { user, plaintext } = await createUserWithToken(app, scopes);
  return { id: user.id, username: user.username, token: plaintext };
}

/** Creates through the API; anything but 201 fails the fixture, not the assertion under test. */
export async function post(app: TestApp, path: string, token: string, body: Record<string, unknown>) {
  const response = await app.request(path, { method: 'POST', token, body });
  if (response.status !== 201) throw new Error(`POST ${path} failed: ${response.status} ${response.text}`);
  return response.body;
}

/** A Kubernetes agent on the project, registered by `owner`, with the plaintext of a token it authenticates with. */
export async function agentWithToken(app: TestApp, owner: TestUser, projectId: number) {
  const agents = app.services['kubernetes-agent'].agents;
  const viewer = { id: owner.id, username: owner.username, name: owner.username, isAdmin: false, state: 'active' };
  const project = await app.services.directory.projects.findProjectById(projectId);
  const agent = await agents.createAgent(viewer, project, 'primary');
  const agentToken = await agents.createToken(viewer, project, agent.id, { name: 'kas' });
  return { agent, agentToken: agentToken.plaintext as string };
}
