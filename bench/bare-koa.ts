/**
 * The baseline: a bare Koa + @koa/router JSON route, nothing else. Gatehouse's figures are reported
 * as a ratio of this one, measured in the same run on the same machine.
 */
import Koa from 'koa';
import Router from '@koa/router';
import getRawBody from 'raw-body';

const app = new Koa();
const router = new Router();
router.get('/bare', (ctx) => {
  ctx.body = { id: 1, name: 'bare', scopes: ['api'], active: true };
});
// For context only (the targets are against GET /bare): the same route taking a small JSON body, as a
// POST such as /internal/allowed does, read with raw-body and answered with the body's keys.
router.post('/bare', async (ctx) => {
  const body = JSON.parse((await getRawBody(ctx.req, { length: ctx.get('Content-Length') || undefined, limit: 1_000_000 })).toString('utf8'));
  ctx.body = { id: 1, name: 'bare', received: Object.keys(body), active: true };
});
app.use(router.routes());
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
