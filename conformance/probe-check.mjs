// probe-check.mjs verifies linq-sync's endpoint probes with the official
// TypeScript SDK: client.webhooks.unwrap() (the npm package standardwebhooks
// underneath) must accept the correctly signed probe and refuse the forged
// one. The probes come from `go run ./conformance/probegen`, which captures
// them as a real receiver gets them.
//
// Usage: node probe-check.mjs probes.json
// Prints one line per check and "N passed, N failed"; exits 1 on any failure.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import LinqAPIV3 from '@linqapp/sdk';
import { check, finish } from './checks.mjs';

const file = process.argv[2];
if (!file) {
  console.error('probe-check: usage: node probe-check.mjs probes.json');
  process.exit(2);
}
const probes = JSON.parse(readFileSync(file, 'utf8'));
const { secret, valid, forged } = probes;

// No request is made: unwrap works offline. The base URL is loopback anyway.
const linq = new LinqAPIV3({ apiKey: 'unused', baseURL: 'http://127.0.0.1:9', webhookSecret: secret });

const ENVELOPE_KEYS = [
  'api_version', 'created_at', 'data', 'event_id', 'event_type', 'partner_id', 'trace_id',
  'webhook_version',
];

function refused(fn) {
  assert.throws(fn, (err) => err?.name === 'WebhookVerificationError', 'unwrap accepted it');
}

await check('probegen: the in-process receiver classified its answers as verified', () => {
  assert.equal(probes.result, 'verified');
});

await check('probe: unwrap with the subscription secret accepts the signed probe', () => {
  const event = linq.webhooks.unwrap(valid.body, { headers: valid.headers, key: secret });
  assert.equal(event.event_type, 'linq_sync.probe');
  assert.deepEqual(Object.keys(event).sort(), ENVELOPE_KEYS);
  assert.deepEqual(event.data, { name: probes.name, subscription_id: probes.subscription_id });
  assert.equal(event.webhook_version, probes.webhook_version);
  assert.equal(event.event_id, valid.headers['webhook-id']);
  assert.match(event.event_id, /^probe_[A-Za-z0-9]{20,}$/);
  assert.equal(event.api_version, 'v3');
  assert.ok(!Number.isNaN(Date.parse(event.created_at)), `created_at ${event.created_at}`);
  for (const k of ['partner_id', 'trace_id']) assert.equal(typeof event[k], 'string');
});

await check('probe: unwrap with the client-wide webhookSecret accepts it too', () => {
  const event = linq.webhooks.unwrap(valid.body, { headers: valid.headers });
  assert.equal(event.event_type, 'linq_sync.probe');
});

await check('probe: unwrap refuses the forged probe', () => {
  refused(() => linq.webhooks.unwrap(forged.body, { headers: forged.headers, key: secret }));
  // It is well formed, only signed with another key.
  assert.match(forged.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+={0,2}$/);
  assert.notEqual(forged.headers['webhook-id'], valid.headers['webhook-id']);
});

await check('probe: unwrap refuses the signed probe with a changed body or another key', () => {
  refused(() => linq.webhooks.unwrap(valid.body.replace('linq_sync.probe', 'linq_sync.probeX'), { headers: valid.headers, key: secret }));
  const other = `whsec_${Buffer.from('another key of thirty-two bytes!').toString('base64')}`;
  refused(() => linq.webhooks.unwrap(valid.body, { headers: valid.headers, key: other }));
});

await check('probe: headers are those of a Linq delivery and carry no token', () => {
  for (const p of [valid, forged]) {
    assert.match(p.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+={0,2}$/);
    assert.match(p.headers['webhook-timestamp'], /^\d+$/);
    assert.ok(Math.abs(Date.now() / 1000 - Number(p.headers['webhook-timestamp'])) < 300, 'timestamp not within 5 minutes');
    assert.match(p.headers['user-agent'], /^linq-sync\//);
    assert.equal(p.headers['content-type'], 'application/json');
    assert.equal(p.headers.authorization, undefined);
  }
});

finish();
