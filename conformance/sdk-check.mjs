// sdk-check.mjs drives a Linq API v3 server (normally `linq-sync mock-api`)
// with the official TypeScript SDK, @linqapp/sdk, through every
// webhook-subscription call and every published error, and checks what the
// SDK sends and what it makes of the answers. The SDK is the ground truth for
// the wire format: when it and the fake disagree, the fake is wrong.
//
// Environment: LINQ_API_V3_BASE_URL (e.g. http://127.0.0.1:4010) and
// LINQ_API_V3_API_KEY (the token the server accepts), the SDK's own names.
// Prints one line per check and "N passed, N failed"; exits 1 on any failure.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import LinqAPIV3, {
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
} from '@linqapp/sdk';
import { check, finish } from './checks.mjs';

const baseURL = process.env.LINQ_API_V3_BASE_URL;
const apiKey = process.env.LINQ_API_V3_API_KEY;
if (!baseURL || !apiKey) {
  console.error('sdk-check: set LINQ_API_V3_BASE_URL and LINQ_API_V3_API_KEY');
  process.exit(2);
}

// The 27 values of WebhookEventType in @linqapp/sdk 0.28.2
// (src/resources/webhook-events.ts).
const SDK_EVENT_TYPES = [
  'message.sent', 'message.received', 'message.read', 'message.delivered', 'message.failed',
  'message.edited', 'reaction.added', 'reaction.removed', 'participant.added',
  'participant.removed', 'chat.created', 'chat.group_name_updated', 'chat.group_icon_updated',
  'chat.group_name_update_failed', 'chat.group_icon_update_failed',
  'chat.typing_indicator.started', 'chat.typing_indicator.stopped',
  'phone_number.status_updated', 'call.initiated', 'call.ringing', 'call.answered',
  'call.ended', 'call.failed', 'call.declined', 'call.no_answer',
  'location.sharing.started', 'location.sharing.stopped',
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

// sent records every request the SDK makes, so that checks can assert the
// exact wire body (for example that null is sent as null).
const sent = [];
async function recordingFetch(url, init = {}) {
  sent.push({ method: init.method ?? 'GET', url: String(url), body: init.body ?? null });
  return fetch(url, init);
}
function lastSent() {
  return sent[sent.length - 1];
}

function client(opts = {}) {
  return new LinqAPIV3({ baseURL, apiKey, fetch: recordingFetch, timeout: 10_000, ...opts });
}
const linq = client();

// expectAPIError runs fn, which must fail with an SDK error of class cls
// whose body is exactly the API's envelope for status, code and message.
async function expectAPIError(fn, cls, status, code, message) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${cls.name}, the call succeeded`);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status, 'HTTP status');
  const env = err.error;
  assert.equal(env?.success, false, `success flag in ${JSON.stringify(env)}`);
  assert.equal(env?.error?.status, status, `envelope status in ${JSON.stringify(env)}`);
  if (code !== undefined) assert.equal(env.error.code, code, `envelope code in ${JSON.stringify(env)}`);
  if (message !== undefined) assert.equal(env.error.message, message, 'envelope message');
  assert.equal(typeof env.error.message, 'string');
  // The SDK builds its message from the whole body, as "<status> <json>".
  assert.ok(err.message.startsWith(`${status} `), `SDK message ${err.message}`);
  return err;
}

function sameSet(a, b) {
  return [...a].sort().join('\n') === [...b].sort().join('\n');
}
function noPhoneFilter(v) {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0);
}

const run = randomUUID().slice(0, 8);
const urlA = `https://hooks.example.com/linq/${run}?version=2026-02-03&line=1`;
const urlB = `https://hooks.example.com/linq/${run}/b`;
const urlC = `https://hooks.example.com/linq/${run}/c`;
const unknownID = 'b2c3d4e5-f6a7-4901-8cde-f23456789012';
let a; // created with a phone filter
let b; // created without one

await check('event list: the 27 published types and the doc URL', async () => {
  const res = await linq.webhookEvents.list();
  assert.deepEqual([...res.events].sort(), [...SDK_EVENT_TYPES].sort());
  assert.equal(res.doc_url, 'https://docs.linqapp.com/guides/webhooks/events');
  assert.match(lastSent().url, /\/v3\/webhook-events$/);
});

await check('create: 201, an active subscription and its signing secret', async () => {
  const { data, response } = await linq.webhookSubscriptions
    .create({
      target_url: urlA,
      subscribed_events: ['message.sent', 'message.delivered', 'message.read'],
      phone_numbers: ['+15551234567'],
    })
    .withResponse();
  assert.equal(response.status, 201);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(lastSent().method, 'POST');
  assert.match(lastSent().url, /\/v3\/webhook-subscriptions$/);
  assert.deepEqual(JSON.parse(lastSent().body), {
    target_url: urlA,
    subscribed_events: ['message.sent', 'message.delivered', 'message.read'],
    phone_numbers: ['+15551234567'],
  });
  assert.match(data.id, UUID);
  assert.match(data.signing_secret, SECRET);
  assert.ok(Buffer.from(data.signing_secret.slice(6), 'base64').length >= 24, 'secret key bytes');
  assert.equal(data.target_url, urlA);
  assert.ok(sameSet(data.subscribed_events, ['message.sent', 'message.delivered', 'message.read']));
  assert.deepEqual(data.phone_numbers, ['+15551234567']);
  assert.equal(data.is_active, true);
  assert.match(data.created_at, ISO);
  assert.match(data.updated_at, ISO);
  a = data;
});

await check('create without phone_numbers: no filter', async () => {
  b = await linq.webhookSubscriptions.create({ target_url: urlB, subscribed_events: ['call.ended'] });
  assert.ok(!('phone_numbers' in JSON.parse(lastSent().body)), 'SDK omits an absent phone_numbers');
  assert.ok(noPhoneFilter(b.phone_numbers), `phone_numbers = ${JSON.stringify(b.phone_numbers)}`);
  assert.match(b.signing_secret, SECRET);
  assert.notEqual(b.signing_secret, a.signing_secret);
  assert.notEqual(b.id, a.id);
});

await check('list: both subscriptions in creation order, no secrets', async () => {
  const res = await linq.webhookSubscriptions.list();
  assert.ok(Array.isArray(res.subscriptions));
  const ids = res.subscriptions.map((s) => s.id);
  const ia = ids.indexOf(a.id);
  const ib = ids.indexOf(b.id);
  assert.ok(ia >= 0 && ib > ia, `order of ${a.id}, ${b.id} in ${ids}`);
  for (const s of res.subscriptions) {
    assert.ok(!('signing_secret' in s), `list shows a signing_secret for ${s.id}`);
  }
  const got = res.subscriptions[ia];
  assert.equal(got.target_url, urlA);
  assert.deepEqual(got.phone_numbers, ['+15551234567']);
  assert.equal(got.is_active, true);
});

await check('retrieve: the subscription, without the secret', async () => {
  const got = await linq.webhookSubscriptions.retrieve(a.id);
  assert.match(lastSent().url, new RegExp(`/v3/webhook-subscriptions/${a.id}$`));
  assert.ok(!('signing_secret' in got), 'retrieve shows the signing_secret');
  const { signing_secret: _secret, ...rest } = a;
  assert.deepEqual({ ...got, environment_id: undefined }, { ...rest, environment_id: undefined });
});

await check('partial update: only is_active changes', async () => {
  const got = await linq.webhookSubscriptions.update(a.id, { is_active: false });
  assert.equal(lastSent().method, 'PUT');
  assert.equal(lastSent().body, '{"is_active":false}');
  assert.equal(got.is_active, false);
  assert.equal(got.target_url, urlA);
  assert.ok(sameSet(got.subscribed_events, a.subscribed_events));
  assert.deepEqual(got.phone_numbers, ['+15551234567']);
  assert.equal(got.created_at, a.created_at);
  assert.ok(Date.parse(got.updated_at) >= Date.parse(a.updated_at), 'updated_at went back');
  assert.ok(!('signing_secret' in got));
});

await check('partial update: target_url and the complete new event set', async () => {
  const got = await linq.webhookSubscriptions.update(a.id, {
    target_url: urlC,
    subscribed_events: ['message.received'],
  });
  assert.deepEqual(JSON.parse(lastSent().body), { target_url: urlC, subscribed_events: ['message.received'] });
  assert.equal(got.target_url, urlC);
  assert.deepEqual(got.subscribed_events, ['message.received']);
  assert.equal(got.is_active, false, 'is_active kept');
  assert.deepEqual(got.phone_numbers, ['+15551234567'], 'phone filter kept');
  const again = await linq.webhookSubscriptions.retrieve(a.id);
  assert.equal(again.target_url, urlC);
});

await check('phone filter removal with null', async () => {
  const got = await linq.webhookSubscriptions.update(a.id, { phone_numbers: null });
  assert.equal(lastSent().body, '{"phone_numbers":null}', 'SDK sends null literally');
  assert.ok(noPhoneFilter(got.phone_numbers), `phone_numbers = ${JSON.stringify(got.phone_numbers)}`);
  const again = await linq.webhookSubscriptions.retrieve(a.id);
  assert.ok(noPhoneFilter(again.phone_numbers));
  assert.equal(again.target_url, urlC);
});

await check('phone filter set again, then removed with []', async () => {
  const set = await linq.webhookSubscriptions.update(a.id, { phone_numbers: ['+447700900123', '+15551234567'] });
  assert.ok(sameSet(set.phone_numbers, ['+447700900123', '+15551234567']));
  const got = await linq.webhookSubscriptions.update(a.id, { phone_numbers: [] });
  assert.equal(lastSent().body, '{"phone_numbers":[]}');
  assert.ok(noPhoneFilter(got.phone_numbers), `phone_numbers = ${JSON.stringify(got.phone_numbers)}`);
  const again = await linq.webhookSubscriptions.retrieve(a.id);
  assert.ok(noPhoneFilter(again.phone_numbers));
});

await check('400/1002 on create with a phone number not in E.164', async () => {
  await expectAPIError(
    () => linq.webhookSubscriptions.create({ target_url: `${urlB}/x`, subscribed_events: ['message.sent'], phone_numbers: ['555-1234'] }),
    BadRequestError, 400, 1002, 'Phone number must be in E.164 format',
  );
});

await check('400/1002 on update with a phone number not in E.164', async () => {
  await expectAPIError(
    () => linq.webhookSubscriptions.update(b.id, { phone_numbers: ['+0123'] }),
    BadRequestError, 400, 1002, 'Phone number must be in E.164 format',
  );
  const again = await linq.webhookSubscriptions.retrieve(b.id);
  assert.ok(noPhoneFilter(again.phone_numbers), 'refused update changed the filter');
});

await check('400 envelope on a non-HTTPS target_url', async () => {
  await expectAPIError(
    () => linq.webhookSubscriptions.create({ target_url: 'http://hooks.example.com/plain', subscribed_events: ['message.sent'] }),
    BadRequestError, 400,
  );
});

await check('401/2004 with a wrong token', async () => {
  const bad = client({ apiKey: 'not-the-token' });
  await expectAPIError(() => bad.webhookSubscriptions.list(), AuthenticationError, 401, 2004,
    'Unauthorized - missing or invalid authentication token');
  assert.equal(lastSent().url.endsWith('/v3/webhook-subscriptions'), true);
});

await check('404/2001 on retrieve, update and delete of an unknown id', async () => {
  const msg = 'Resource not found';
  await expectAPIError(() => linq.webhookSubscriptions.retrieve(unknownID), NotFoundError, 404, 2001, msg);
  await expectAPIError(() => linq.webhookSubscriptions.update(unknownID, { is_active: true }), NotFoundError, 404, 2001, msg);
  await expectAPIError(() => linq.webhookSubscriptions.delete(unknownID), NotFoundError, 404, 2001, msg);
});

await check('duplicate target_url is refused with a 4xx envelope and creates nothing', async () => {
  // The status is unpublished (the fake answers 409 unless told otherwise),
  // and the SDK retries 409, so retries are off to see the first answer.
  const before = sent.length;
  let err;
  try {
    await linq.webhookSubscriptions.create({ target_url: urlB, subscribed_events: ['message.sent'] }, { maxRetries: 0 });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof APIError, `expected an APIError, got ${err}`);
  assert.ok(err.status >= 400 && err.status < 500, `status ${err.status}`);
  if (err.status === 409) assert.ok(err instanceof ConflictError);
  assert.equal(err.error?.success, false);
  assert.equal(err.error?.error?.status, err.status);
  assert.ok(Number.isInteger(err.error.error.code));
  assert.equal(sent.length - before, 1);
  const res = await linq.webhookSubscriptions.list();
  assert.equal(res.subscriptions.filter((s) => s.target_url === urlB).length, 1);
});

await check('delete: 204 and no body, then 404', async () => {
  const { data, response } = await linq.webhookSubscriptions.delete(b.id).withResponse();
  assert.equal(response.status, 204);
  assert.equal(data, null);
  assert.equal(lastSent().method, 'DELETE');
  await expectAPIError(() => linq.webhookSubscriptions.retrieve(b.id), NotFoundError, 404, 2001, 'Resource not found');
  const res = await linq.webhookSubscriptions.list();
  assert.ok(!res.subscriptions.some((s) => s.id === b.id));
});

await check('base URL with the production /api/partner prefix', async () => {
  const prefixed = client({ baseURL: `${baseURL.replace(/\/$/, '')}/api/partner` });
  const res = await prefixed.webhookSubscriptions.list();
  assert.match(lastSent().url, /\/api\/partner\/v3\/webhook-subscriptions$/);
  assert.ok(res.subscriptions.some((s) => s.id === a.id));
});

await check('cleanup', async () => {
  await linq.webhookSubscriptions.delete(a.id);
});

finish();
