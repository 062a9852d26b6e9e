/**
 * The baseline: a bare Koa + @koa/router JSON route, nothing else. Gatehouse's figures are reported
 * as a ratio of this one, measured in the same run on the same machine.
 */
import Koa from 'koa';
import Router from '@koa/router';

const app = new Koa();
const router = new Router();
router.get('/bare', (ctx) => {
  ctx.body = { id: 1, name: 'bare', scopes: ['api'], active: true };
});
app.use(router.routes());
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
