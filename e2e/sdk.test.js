'use strict';
// The official Genesys Cloud JavaScript SDK (purecloud-platform-client-v2,
// pinned in package.json) against the real callfix binary, in front of
// recording upstreams. The Go side starts all of it and passes the control
// endpoint in CALLFIX_RIG (see e2e/doc.go); run with
//   go test -count=1 -run TestSDK_JavaScript ./cmd/callfix/
// or `npm test --prefix e2e`, after `make e2e-deps`.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const platformClient = require('purecloud-platform-client-v2');

const RIG = process.env.CALLFIX_RIG;
if (!RIG) {
  throw new Error('CALLFIX_RIG is not set: this test needs callfix and the recording upstreams that the Go side ' +
    'starts; run `go test -count=1 -run TestSDK_JavaScript ./cmd/callfix/` (or `npm test --prefix e2e`)');
}

// What the rig's upstreams answer (e2e/rig.go: Token, Conversation, User).
const TOKEN = 'tok-123';
const CONVERSATION = {
  id: '3f1a9c2e-0000-4000-8000-000000000009',
  selfUri: '/api/v2/conversations/calls/3f1a9c2e-0000-4000-8000-000000000009',
};
const USER = {
  id: '2ca3b6e8-0000-4000-8000-000000000001',
  name: 'Ada Example',
  email: 'ada@example.com',
  state: 'active',
  username: 'ada@example.com',
  version: 3,
  selfUri: '/api/v2/users/2ca3b6e8-0000-4000-8000-000000000001',
};

const UUID = '2ca3b6e8-0000-4000-8000-000000000001';

// Legacy bodies, as integrations send them, and what Genesys must receive.
// The SDK serializes the object it is given as JSON, in its key order.
const CALLS = [
  {
    name: 'a national number in phoneNumber',
    body: { phoneNumber: '(317) 555-0100' },
    want: '{"phoneNumber":"tel:+13175550100"}',
  },
  {
    name: 'a raw user ID in participants[].address',
    body: { participants: [{ address: UUID }] },
    want: `{"participants":[{"address":"user:${UUID}"}]}`,
  },
  {
    name: 'the seed shape to.to / from.from',
    body: { to: { to: '13172224567' }, from: { from: UUID } },
    want: `{"to":{"to":"tel:+13172224567"},"from":{"from":"user:${UUID}"}}`,
  },
  {
    name: 'a CreateCallRequest whose callUserId stays a raw ID',
    body: { phoneNumber: '317.555.0100', callerId: '(317) 555-0199', callUserId: UUID },
    want: `{"phoneNumber":"tel:+13175550100","callerId":"+13175550199","callUserId":"${UUID}"}`,
  },
];

async function rigGet(path) {
  const res = await fetch(RIG + path);
  const text = await res.text();
  if (!res.ok) throw new Error(`rig ${path}: ${res.status} ${text}`);
  return text;
}

// requests returns what an upstream ('login' or 'api') of an instance has
// received so far: [{method, target, headers: [{name, value}], body}].
async function requests(instance, upstream) {
  return JSON.parse(await rigGet(`/requests?instance=${instance}&upstream=${upstream}`));
}

// during runs fn and returns its result (or, with expectReject, what it
// rejected with) and what each upstream received meanwhile.
async function during(instance, fn, expectReject = false) {
  const before = { login: (await requests(instance, 'login')).length, api: (await requests(instance, 'api')).length };
  let result, error, rejected = false;
  try {
    result = await fn();
  } catch (e) {
    error = e;
    rejected = true;
  }
  const login = (await requests(instance, 'login')).slice(before.login);
  const api = (await requests(instance, 'api')).slice(before.api);
  if (rejected !== expectReject) {
    const log = await rigGet(`/log?instance=${instance}`);
    const what = rejected ? `the SDK call failed: ${inspect(error)}` : `the SDK call resolved: ${inspect(result)}`;
    throw new Error(`${what}\nlogin upstream got ${inspect(login)}\napi upstream got ${inspect(api)}\ncallfix log:\n${log}`);
  }
  return { result, error, login, api };
}

function inspect(v) {
  return require('node:util').inspect(v, { depth: 6, breakLength: Infinity });
}

// header returns every value of a header, its name matched without case.
function header(rec, name) {
  return rec.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase()).map((h) => h.value);
}

const VARIANTS = [
  {
    instance: 'callfix',
    title: 'setGateway without path params (callfix as configured by default)',
    gateway: (port) => ({ host: '127.0.0.1', protocol: 'http', port }),
    loginBase: (port) => `http://127.0.0.1:${port}`,
    apiBase: (port) => `http://127.0.0.1:${port}`,
  },
  {
    instance: 'gateway',
    title: "setGateway with path_params_login 'login' and path_params_api 'api' (gateway.login_prefixes=/login, gateway.api_prefixes=/api)",
    gateway: (port) => ({ host: '127.0.0.1', protocol: 'http', port, path_params_login: 'login', path_params_api: 'api' }),
    loginBase: (port) => `http://127.0.0.1:${port}/login`,
    apiBase: (port) => `http://127.0.0.1:${port}/api`,
  },
];

for (const v of VARIANTS) {
  describe(v.title, () => {
    const client = platformClient.ApiClient.instance;
    let port;

    before(async () => {
      const info = JSON.parse(await rigGet('/info'));
      assert.ok(info[v.instance], `the rig has no instance ${v.instance}: ${inspect(info)}`);
      port = Number(info[v.instance].split(':').pop());
      client.setGateway(v.gateway(port));
      client.setReturnExtendedResponses(false);
      client.clearAccessToken();
    });

    test('the SDK builds the URLs callfix expects', () => {
      assert.equal(client.config.getConfUrl('login', 'https://login.mypurecloud.com'), v.loginBase(port));
      assert.equal(client.buildUrl('/api/v2/conversations/calls', {}), v.apiBase(port) + '/api/v2/conversations/calls');
    });

    test('loginClientCredentialsGrant: POST /oauth/token reaches the login upstream', async () => {
      const got = await during(v.instance, () => client.loginClientCredentialsGrant('id', 'secret'));
      assert.equal(got.result.accessToken, TOKEN, 'the SDK keeps the token the login upstream answered');
      assert.equal(got.api.length, 0, `the api upstream got ${inspect(got.api)}`);
      assert.equal(got.login.length, 1, `the login upstream got ${inspect(got.login)}`);
      const rec = got.login[0];
      assert.equal(rec.method, 'POST');
      assert.equal(rec.target, '/oauth/token', 'the gateway prefix is stripped, nothing else changes');
      assert.equal(rec.body, 'grant_type=client_credentials');
      assert.deepEqual(header(rec, 'Authorization'), ['Basic ' + Buffer.from('id:secret').toString('base64')]);
      assert.match(header(rec, 'Content-Type')[0] || '', /^application\/x-www-form-urlencoded/);
    });

    for (const c of CALLS) {
      test(`postConversationsCalls with ${c.name}: the API upstream gets it repaired`, async () => {
        const got = await during(v.instance, () => new platformClient.ConversationsApi().postConversationsCalls(c.body));
        assert.deepEqual(got.result, CONVERSATION, "the SDK gets the upstream's answer back");
        assert.equal(got.login.length, 0, `the login upstream got ${inspect(got.login)}`);
        assert.equal(got.api.length, 1, `the api upstream got ${inspect(got.api)}`);
        const rec = got.api[0];
        assert.equal(rec.method, 'POST');
        assert.equal(rec.target, '/api/v2/conversations/calls');
        assert.equal(rec.body, c.want);
        assert.deepEqual(header(rec, 'Content-Length'), [String(Buffer.byteLength(c.want))]);
        assert.deepEqual(header(rec, 'Authorization'), [`Bearer ${TOKEN}`]);
        assert.deepEqual(header(rec, 'Content-Type'), ['application/json']);
      });
    }

    test('getUsersMe passes through untouched', async () => {
      const got = await during(v.instance, () =>
        new platformClient.UsersApi().getUsersMe({ customHeaders: { 'X-E2e-Marker': 'users-me 1' } }));
      assert.deepEqual(got.result, USER, "the SDK gets the upstream's answer back");
      assert.equal(got.api.length, 1, `the api upstream got ${inspect(got.api)}`);
      const rec = got.api[0];
      assert.equal(rec.method, 'GET');
      assert.equal(rec.target, '/api/v2/users/me');
      assert.equal(rec.body, '');
      assert.deepEqual(header(rec, 'Authorization'), [`Bearer ${TOKEN}`]);
      assert.deepEqual(header(rec, 'Accept'), ['application/json']);
      assert.deepEqual(header(rec, 'X-E2e-Marker'), ['users-me 1']);
      assert.deepEqual(header(rec, 'X-Forwarded-Host'), [`127.0.0.1:${port}`]);
    });

    test('enforce mode: an unfixable number is answered 400 callfix.invalid.address and never forwarded', async () => {
      const api = new platformClient.ConversationsApi();
      // By default the SDK rejects with the parsed error body.
      let got = await during(v.instance, () => api.postConversationsCalls({ phoneNumber: '1-800-FLOWERS' }), true);
      assert.equal(got.api.length, 0, `the api upstream got ${inspect(got.api)}`);
      assert.equal(got.login.length, 0, `the login upstream got ${inspect(got.login)}`);
      const body = got.error;
      assert.equal(body.code, 'callfix.invalid.address', inspect(body));
      assert.equal(body.status, 400, inspect(body));
      assert.equal(typeof body.message, 'string');
      assert.deepEqual(body.details.map((d) => d.fieldName), ['phoneNumber'], inspect(body));
      assert.ok(!JSON.stringify(body).includes('FLOWERS'), `the error body shows the unmasked number: ${inspect(body)}`);

      // With extended responses it rejects with {status, headers, body}.
      client.setReturnExtendedResponses(true);
      try {
        got = await during(v.instance, () => api.postConversationsCalls({ phoneNumber: '1-800-FLOWERS' }), true);
      } finally {
        client.setReturnExtendedResponses(false);
      }
      assert.equal(got.api.length, 0, `the api upstream got ${inspect(got.api)}`);
      assert.equal(got.error.status, 400);
      assert.equal(got.error.body.code, 'callfix.invalid.address');
      assert.equal(got.error.body.status, 400);
      assert.equal(got.error.headers['x-request-id'], got.error.body.contextId, 'X-Request-Id is the contextId');
    });
  });
}
