// The official WorkOS Node SDK (@workos-inc/node 11.0.0) against a running
// Keyway: organizations, organization domains (with real DNS verification),
// organization memberships, roles, the Events API and environment isolation.
// sdk_test.go starts the server and a DNS server (test/dnstest) and runs this
// file with `node --test`; by hand:
//
//	KEYWAY_PORT=8080 KEYWAY_API_KEY=sk_test_... KEYWAY_CLIENT_ID=client_01... \
//	  KEYWAY_DNS_CONTROL=http://127.0.0.1:PORT [KEYWAY_PROD_API_KEY=sk_live_...] \
//	  node --test test/sdk/organizations.test.mjs
//
// where the server runs with KEYWAY_DNS_RESOLVER set to the DNS server whose
// control API KEYWAY_DNS_CONTROL is. Names, domains and external ids are
// unique to each run, so runs never collide.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  NotFoundException,
  ConflictException,
  UnprocessableEntityException,
  GenericServerException,
} from '@workos-inc/node';
import {
  API_KEY, PROD_API_KEY, RUN, newClient, next, runDomain, emailsAt,
  PASSWORD as STRONG_PASSWORD, BCRYPT_HASH, ORG_ID, unknownId, ids,
  assertIso as assertIsoTimestamp, rejectsWith as rejectsWithError, rawJSON as raw,
} from './support.mjs';

const DNS_CONTROL = process.env.KEYWAY_DNS_CONTROL || '';
assert.ok(DNS_CONTROL, 'KEYWAY_DNS_CONTROL must be set to the DNS server control URL');

const client = (key) => newClient(key);

const workos = client(API_KEY);
const orgs = workos.organizations;
const domains = workos.organizationDomains;
const um = workos.userManagement;

// When this file started: the lower bound of its events.
const STARTED = new Date(Date.now() - 1000).toISOString();

// A domain name of its own for each use (all lower case, as the server stores them).
const domainName = (tag) => `${tag}-${next()}.run-${RUN}.keyway-sdk.test`;
const orgName = (tag) => `Org ${tag} ${RUN} #${next()}`;
const email = emailsAt(runDomain('keyway-orgs'));

const DOMAIN_ID = /^org_domain_0[0-9A-Z]{25}$/;
const OM_ID = /^om_0[0-9A-Z]{25}$/;
const ROLE_ID = /^role_0[0-9A-Z]{25}$/;
const EVENT_ID = /^event_0[0-9A-Z]{25}$/;
const UNKNOWN_ORG = unknownId('org');
const UNKNOWN_OM = unknownId('om');
const UNKNOWN_USER = unknownId('user');

// The keys of the WorkOS organization and organization_domain objects on
// the wire (workos-api.md section 8); stripe_customer_id is optional.
const WIRE_ORG_KEYS = [
  'object', 'id', 'name', 'allow_profiles_outside_organization', 'domains', 'metadata', 'external_id',
  'created_at', 'updated_at',
].sort();
const WIRE_DOMAIN_KEYS = [
  'object', 'id', 'organization_id', 'domain', 'state', 'verification_strategy', 'created_at', 'updated_at',
];

// Timestamps here must also round-trip through Date.
const assertIso = (value, what) => assertIsoTimestamp(value, what, { roundTrip: true });

function assertSdkDomain(d, want = {}) {
  assert.equal(d.object, 'organization_domain');
  assert.match(d.id, DOMAIN_ID);
  assert.match(d.organizationId, ORG_ID);
  assert.equal(typeof d.domain, 'string');
  assert.ok(['pending', 'verified', 'failed'].includes(d.state), `state ${d.state}`);
  assert.ok(['dns', 'manual'].includes(d.verificationStrategy), `verificationStrategy ${d.verificationStrategy}`);
  assertIso(d.createdAt, 'domain createdAt');
  assertIso(d.updatedAt, 'domain updatedAt');
  if (d.verificationStrategy === 'dns') {
    assert.equal(typeof d.verificationToken, 'string', 'a dns domain has a verificationToken');
    assert.ok(d.verificationToken.length >= 16, 'the token is long enough to be unguessable');
    assert.equal(typeof d.verificationPrefix, 'string', 'a dns domain has a verificationPrefix');
    assert.ok(d.verificationPrefix.length > 0);
  }
  for (const [k, v] of Object.entries(want)) assert.deepEqual(d[k], v, `domain.${k}`);
}

function assertSdkOrg(o, want = {}) {
  assert.equal(o.object, 'organization');
  assert.match(o.id, ORG_ID);
  assert.equal(typeof o.name, 'string');
  assert.equal(o.allowProfilesOutsideOrganization, false);
  assert.ok(Array.isArray(o.domains), 'domains is an array');
  for (const d of o.domains) assertSdkDomain(d, { organizationId: o.id });
  assertIso(o.createdAt, 'createdAt');
  assertIso(o.updatedAt, 'updatedAt');
  assert.ok(o.updatedAt >= o.createdAt, 'updatedAt >= createdAt');
  assert.ok(o.metadata !== null && typeof o.metadata === 'object' && !Array.isArray(o.metadata), 'metadata is an object');
  for (const [k, v] of Object.entries(want)) assert.deepEqual(o[k], v, `organization.${k}`);
}

function assertSdkMembership(m, want = {}) {
  assert.equal(m.object, 'organization_membership');
  assert.match(m.id, OM_ID);
  assert.match(m.organizationId, ORG_ID);
  assert.equal(typeof m.userId, 'string');
  assert.ok(['active', 'inactive', 'pending'].includes(m.status), `status ${m.status}`);
  assert.equal(typeof m.role?.slug, 'string', 'role.slug');
  if (m.roles) assert.deepEqual(m.roles, [m.role], 'roles is [role] with one role');
  assert.equal(m.directoryManaged, false);
  assert.deepEqual(m.customAttributes, {});
  assertIso(m.createdAt, 'membership createdAt');
  assertIso(m.updatedAt, 'membership updatedAt');
  for (const [k, v] of Object.entries(want)) assert.deepEqual(m[k], v, `membership.${k}`);
}

function assertSdkRole(r, want = {}) {
  assert.equal(r.object, 'role');
  assert.match(r.id, ROLE_ID);
  assert.equal(typeof r.slug, 'string');
  assert.equal(typeof r.name, 'string');
  assert.ok(Array.isArray(r.permissions), 'permissions is an array');
  assert.equal(r.type, 'EnvironmentRole');
  assertIso(r.createdAt, 'role createdAt');
  assertIso(r.updatedAt, 'role updatedAt');
  for (const [k, v] of Object.entries(want)) assert.deepEqual(r[k], v, `role.${k}`);
}

// rejectsWith checks the error's class (Klass or a subclass), status and,
// when given, code.
const rejectsWith = (promise, Klass, status, code) => rejectsWithError(promise, Klass, status, { subclasses: true, code });

// dnsTXT publishes (values given) or removes the TXT records of name on the
// DNS server that Keyway verifies domains against.
async function dnsTXT(name, ...values) {
  const q = new URLSearchParams({ name });
  for (const v of values) q.append('value', v);
  const res = await fetch(`${DNS_CONTROL}/txt?${q}`, { method: values.length ? 'PUT' : 'DELETE' });
  assert.equal(res.status, 204, `DNS control ${values.length ? 'PUT' : 'DELETE'} ${name}: ${await res.text()}`);
}

const recordName = (d) => `${d.verificationPrefix}.${d.domain}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('organizations', () => {
  test('createOrganization with domainData, externalId, metadata; getOrganization; getOrganizationByExternalId', async () => {
    const pending = domainName('pending');
    const verified = domainName('verified');
    const externalId = `ext-org-${RUN}-${randomUUID()}`;
    const metadata = { tier: 'gold', region: 'eu' };
    const name = orgName('create');
    const o = await orgs.createOrganization({
      name,
      domainData: [{ domain: pending, state: 'pending' }, { domain: verified.toUpperCase(), state: 'verified' }],
      externalId,
      metadata,
    });
    assertSdkOrg(o, { name, externalId, metadata });
    assert.equal(o.createdAt, o.updatedAt, 'a new organization has updatedAt == createdAt');
    assert.equal(o.domains.length, 2);
    const byName = Object.fromEntries(o.domains.map((d) => [d.domain, d]));
    assert.deepEqual(Object.keys(byName).sort(), [pending, verified].sort(), 'domains are stored lower case');
    assertSdkDomain(byName[pending], { state: 'pending', verificationStrategy: 'dns' });
    assert.equal(byName[verified].state, 'verified');
    assert.notEqual(byName[pending].id, byName[verified].id);

    assert.deepEqual(await orgs.getOrganization(o.id), o, 'getOrganization reads it back');
    assert.deepEqual(await orgs.getOrganizationByExternalId(externalId), o, 'getOrganizationByExternalId finds it');
    assert.deepEqual(await domains.getOrganizationDomain(byName[pending].id), byName[pending]);

    // The raw object has exactly the WorkOS fields.
    const res = await raw('GET', `/organizations/${o.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.json).filter((k) => k !== 'stripe_customer_id').sort(), WIRE_ORG_KEYS);
    for (const d of res.json.domains) {
      for (const k of WIRE_DOMAIN_KEYS) assert.ok(k in d, `wire domain has ${k}`);
    }

    // A minimal organization: no domains, no external id, empty metadata.
    const bare = await orgs.createOrganization({ name: orgName('bare') });
    assertSdkOrg(bare, { domains: [], externalId: null, metadata: {} });

    // The external id is unique: 400 external_id_already_used.
    const dup = await rejectsWith(orgs.createOrganization({ name: orgName('dup-ext'), externalId }), GenericServerException, 400);
    assert.equal(dup.code, 'external_id_already_used');

    await rejectsWith(orgs.getOrganization(UNKNOWN_ORG), NotFoundException, 404);
    await rejectsWith(orgs.getOrganization('org_not-an-id'), NotFoundException, 404);
    await rejectsWith(orgs.getOrganizationByExternalId(`ext-org-${RUN}-missing`), NotFoundException, 404);
    await rejectsWith(orgs.createOrganization({ name: '' }), UnprocessableEntityException, 422);
    await rejectsWith(orgs.createOrganization({ name: orgName('bad-state'), domainData: [{ domain: domainName('bs'), state: 'bogus' }] }),
      UnprocessableEntityException, 422);
  });

  test('createOrganization with an idempotencyKey', async () => {
    const key = `sdk-org-${RUN}-${randomUUID()}`;
    const name = orgName('idem');
    const first = await orgs.createOrganization({ name, metadata: { k: 'v' } }, { idempotencyKey: key });
    const second = await orgs.createOrganization({ name, metadata: { k: 'v' } }, { idempotencyKey: key });
    assert.deepEqual(second, first, 'the replay returns the same organization');
    await assert.rejects(orgs.createOrganization({ name: `${name} other` }, { idempotencyKey: key }), (e) => {
      assert.equal(e.status, 400, `${e.name}: ${e.message}`);
      assert.equal(e.code, 'idempotency_key_reused');
      return true;
    });
    const all = await (await orgs.listOrganizations({ limit: 100 })).autoPagination();
    assert.equal(all.filter((o) => o.name === name).length, 1, 'one organization was created');
    // Without a key the same body creates another one.
    const third = await orgs.createOrganization({ name });
    assert.notEqual(third.id, first.id);
  });

  test('listOrganizations: domains filter', async () => {
    const da = domainName('filter-a');
    const db = domainName('filter-b');
    const a = await orgs.createOrganization({ name: orgName('filter-a'), domainData: [{ domain: da, state: 'pending' }] });
    const b = await orgs.createOrganization({ name: orgName('filter-b'), domainData: [{ domain: db, state: 'verified' }] });
    await orgs.createOrganization({ name: orgName('filter-none') });

    const onlyA = await orgs.listOrganizations({ domains: [da] });
    assert.equal(onlyA.object, 'list');
    assert.deepEqual(ids(onlyA.data), [a.id]);
    assert.deepEqual(onlyA.data[0], await orgs.getOrganization(a.id));
    assert.deepEqual(onlyA.listMetadata, { before: null, after: null });

    const both = await orgs.listOrganizations({ domains: [da, db] });
    assert.deepEqual(ids(both.data), [b.id, a.id], 'both organizations, newest first');

    const paged = await orgs.listOrganizations({ domains: [da, db], limit: 1 });
    assert.deepEqual(ids(paged.data), [b.id]);
    assert.equal(paged.listMetadata.after, b.id);
    const paged2 = await orgs.listOrganizations({ domains: [da, db], limit: 1, after: paged.listMetadata.after });
    assert.deepEqual(ids(paged2.data), [a.id]);

    const none = await orgs.listOrganizations({ domains: [domainName('filter-unused')] });
    assert.deepEqual(none.data, []);
    assert.deepEqual(none.listMetadata, { before: null, after: null });
  });

  test('listOrganizations: limit/after/before pagination and autoPagination', async () => {
    const batch = [];
    for (let i = 0; i < 6; i++) batch.push(await orgs.createOrganization({ name: orgName(`page-${i}`) }));
    const newestFirst = ids(batch).reverse();

    const p1 = await orgs.listOrganizations({ limit: 3 });
    assert.deepEqual(ids(p1.data), newestFirst.slice(0, 3));
    assert.equal(p1.listMetadata.before, null);
    assert.equal(p1.listMetadata.after, newestFirst[2]);
    for (const o of p1.data) assertSdkOrg(o);

    const p2 = await orgs.listOrganizations({ limit: 3, after: p1.listMetadata.after });
    assert.deepEqual(ids(p2.data), newestFirst.slice(3, 6));
    assert.equal(p2.listMetadata.before, newestFirst[3]);

    const back = await orgs.listOrganizations({ limit: 3, before: p2.listMetadata.before });
    assert.deepEqual(ids(back.data), ids(p1.data));

    const asc = await orgs.listOrganizations({ limit: 3, order: 'asc', after: newestFirst[5] });
    assert.deepEqual(ids(asc.data).slice(0, 3), [newestFirst[4], newestFirst[3], newestFirst[2]]);

    const auto = await (await orgs.listOrganizations()).autoPagination();
    const autoIds = ids(auto);
    assert.ok(autoIds.length > 10, `autoPagination goes past the first page (${autoIds.length})`);
    assert.equal(new Set(autoIds).size, autoIds.length, 'no organization twice');
    assert.deepEqual(autoIds.slice(0, 6), newestFirst, 'newest first');
    for (let i = 1; i < autoIds.length; i++) assert.ok(autoIds[i] < autoIds[i - 1], 'sorted by id, desc');

    await rejectsWith(orgs.listOrganizations({ limit: 1000 }), UnprocessableEntityException, 422);
  });

  test('updateOrganization: name, domainData, metadata', async () => {
    const keep = domainName('upd-keep');
    const drop = domainName('upd-drop');
    const externalId = `ext-upd-${RUN}`;
    const created = await orgs.createOrganization({
      name: orgName('upd'), externalId, metadata: { a: '1', b: '2' },
      domainData: [{ domain: keep, state: 'pending' }, { domain: drop, state: 'pending' }],
    });
    const keepDomain = created.domains.find((d) => d.domain === keep);
    await sleep(5);

    const newName = orgName('upd-renamed');
    const renamed = await orgs.updateOrganization({ organization: created.id, name: newName });
    assertSdkOrg(renamed, { id: created.id, name: newName, externalId, metadata: { a: '1', b: '2' } });
    assert.equal(renamed.domains.length, 2, 'domains are untouched when not sent');
    assert.equal(renamed.createdAt, created.createdAt);
    assert.ok(renamed.updatedAt > created.updatedAt, 'updatedAt moves forward');

    const md = await orgs.updateOrganization({ organization: created.id, metadata: { b: '3', c: '4' } });
    assert.equal(md.name, newName, 'the name is kept');
    for (const [k, v] of Object.entries({ b: '3', c: '4' })) assert.equal(md.metadata[k], v, `metadata.${k} is set`);

    // domainData replaces the domains: keep becomes verified, drop goes, add comes.
    const add = domainName('upd-add');
    const redomained = await orgs.updateOrganization({
      organization: created.id,
      domainData: [{ domain: keep, state: 'verified' }, { domain: add, state: 'pending' }],
    });
    const byName = Object.fromEntries(redomained.domains.map((d) => [d.domain, d]));
    assert.deepEqual(Object.keys(byName).sort(), [add, keep].sort());
    assert.equal(byName[keep].id, keepDomain.id, 'a domain that stays keeps its id');
    assert.equal(byName[keep].state, 'verified');
    assertSdkDomain(byName[add], { state: 'pending', verificationStrategy: 'dns' });
    assert.deepEqual((await orgs.listOrganizations({ domains: [drop] })).data, [], 'the dropped domain finds nothing');
    assert.deepEqual(ids((await orgs.listOrganizations({ domains: [add] })).data), [created.id]);
    await rejectsWith(domains.getOrganizationDomain(created.domains.find((d) => d.domain === drop).id), NotFoundException, 404);

    assert.deepEqual(await orgs.getOrganization(created.id), redomained, 'getOrganization reads the update back');

    const cleared = await orgs.updateOrganization({ organization: created.id, domainData: [] });
    assert.deepEqual(cleared.domains, []);

    await rejectsWith(orgs.updateOrganization({ organization: UNKNOWN_ORG, name: 'x' }), NotFoundException, 404);
  });

  test('deleteOrganization, then NotFoundException', async () => {
    const externalId = `ext-del-${RUN}`;
    const d = domainName('del');
    const o = await orgs.createOrganization({ name: orgName('del'), externalId, domainData: [{ domain: d, state: 'verified' }] });
    assert.equal(await orgs.deleteOrganization(o.id), undefined);
    await rejectsWith(orgs.getOrganization(o.id), NotFoundException, 404);
    await rejectsWith(orgs.getOrganizationByExternalId(externalId), NotFoundException, 404);
    await rejectsWith(orgs.updateOrganization({ organization: o.id, name: 'ghost' }), NotFoundException, 404);
    await rejectsWith(domains.getOrganizationDomain(o.domains[0].id), NotFoundException, 404);
    await rejectsWith(orgs.deleteOrganization(o.id), NotFoundException, 404);
    assert.deepEqual((await orgs.listOrganizations({ domains: [d] })).data, []);
    const all = await (await orgs.listOrganizations()).autoPagination();
    assert.ok(!ids(all).includes(o.id), 'the deleted organization is not listed');

    // Deleting frees the external id and the verified domain.
    const again = await orgs.createOrganization({ name: orgName('del-again'), externalId, domainData: [{ domain: d, state: 'verified' }] });
    assert.notEqual(again.id, o.id);
    assert.equal((await orgs.getOrganizationByExternalId(externalId)).id, again.id);
  });
});

describe('organization domains', () => {
  test('create, get, verify through DNS, delete', async () => {
    const org = await orgs.createOrganization({ name: orgName('dom') });
    const name = domainName('dns');
    const d = await domains.createOrganizationDomain({ domain: name, organizationId: org.id });
    assertSdkDomain(d, { domain: name, organizationId: org.id, state: 'pending', verificationStrategy: 'dns' });
    assert.ok(d.verificationToken, 'verificationToken is present');
    assert.ok(d.verificationPrefix, 'verificationPrefix is present');
    assert.deepEqual(await domains.getOrganizationDomain(d.id), d);
    assert.deepEqual((await orgs.getOrganization(org.id)).domains, [d], 'the organization lists the domain');

    // No TXT record yet: still pending.
    const v1 = await domains.verifyOrganizationDomain(d.id);
    assertSdkDomain(v1, { id: d.id, state: 'pending' });

    // A TXT record with the wrong value: still pending.
    await dnsTXT(recordName(d), 'some-other-token');
    assert.equal((await domains.verifyOrganizationDomain(d.id)).state, 'pending');

    // The right record (next to an unrelated one): verified.
    await dnsTXT(recordName(d), 'v=spf1 -all', d.verificationToken);
    const v2 = await domains.verifyOrganizationDomain(d.id);
    assertSdkDomain(v2, { id: d.id, domain: name, state: 'verified' });
    assert.equal((await domains.getOrganizationDomain(d.id)).state, 'verified');
    assert.equal((await orgs.getOrganization(org.id)).domains[0].state, 'verified');
    assert.deepEqual(ids((await orgs.listOrganizations({ domains: [name] })).data), [org.id]);

    // Verifying again: 400 domain_already_verified.
    const again = await rejectsWith(domains.verifyOrganizationDomain(d.id), GenericServerException, 400);
    assert.equal(again.code, 'domain_already_verified');

    // The raw verify answers 201 with the domain.
    const d2 = await domains.createOrganizationDomain({ domain: domainName('raw'), organizationId: org.id });
    const res = await raw('POST', `/organization_domains/${d2.id}/verify`, { body: {} });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.object, 'organization_domain');
    assert.equal(res.json.state, 'pending');

    assert.equal(await domains.deleteOrganizationDomain(d.id), undefined);
    await rejectsWith(domains.getOrganizationDomain(d.id), NotFoundException, 404);
    await rejectsWith(domains.verifyOrganizationDomain(d.id), NotFoundException, 404);
    await rejectsWith(domains.deleteOrganizationDomain(d.id), NotFoundException, 404);
    assert.deepEqual(ids((await orgs.getOrganization(org.id)).domains), [d2.id]);
    const del = await raw('DELETE', `/organization_domains/${d2.id}`);
    assert.equal(del.status, 204);
    await dnsTXT(recordName(d));
  });

  test('consumer and invalid domains are 422', async () => {
    const org = await orgs.createOrganization({ name: orgName('dom-bad') });
    for (const bad of ['gmail.com', 'GMail.com', 'not a domain', 'localhost', 'exa_mple.com', '-x.com', '1.2.3.4']) {
      await rejectsWith(domains.createOrganizationDomain({ domain: bad, organizationId: org.id }), UnprocessableEntityException, 422);
    }
    await rejectsWith(orgs.createOrganization({ name: orgName('gmail'), domainData: [{ domain: 'gmail.com', state: 'verified' }] }),
      UnprocessableEntityException, 422);
    await rejectsWith(orgs.updateOrganization({ organization: org.id, domainData: [{ domain: 'outlook.com', state: 'pending' }] }),
      UnprocessableEntityException, 422);
    assert.deepEqual((await orgs.getOrganization(org.id)).domains, [], 'nothing was added');
    await rejectsWith(domains.createOrganizationDomain({ domain: domainName('no-org'), organizationId: UNKNOWN_ORG }), NotFoundException, 404);
  });

  test('a domain verified by one organization cannot be verified or added by another (409)', async () => {
    const name = domainName('contested');
    const o1 = await orgs.createOrganization({ name: orgName('contest-1') });
    const o2 = await orgs.createOrganization({ name: orgName('contest-2') });
    // Both may hold it while it is pending.
    const d1 = await domains.createOrganizationDomain({ domain: name, organizationId: o1.id });
    const d2 = await domains.createOrganizationDomain({ domain: name, organizationId: o2.id });
    assert.notEqual(d1.verificationToken, d2.verificationToken, 'each domain has its own token');
    // The same domain twice in one organization is a conflict too.
    await rejectsWith(domains.createOrganizationDomain({ domain: name, organizationId: o1.id }), ConflictException, 409);

    await dnsTXT(recordName(d1), d1.verificationToken, d2.verificationToken);
    assert.equal((await domains.verifyOrganizationDomain(d1.id)).state, 'verified');

    // The second organization proves control too, but the domain is taken.
    await rejectsWith(domains.verifyOrganizationDomain(d2.id), ConflictException, 409);
    assert.equal((await domains.getOrganizationDomain(d2.id)).state, 'pending');
    const o3 = await orgs.createOrganization({ name: orgName('contest-3') });
    const add = await rejectsWith(domains.createOrganizationDomain({ domain: name, organizationId: o3.id }), ConflictException, 409);
    assert.equal(add.code, 'domain_already_exists');
    await rejectsWith(orgs.createOrganization({ name: orgName('contest-4'), domainData: [{ domain: name, state: 'verified' }] }),
      ConflictException, 409);
    await rejectsWith(orgs.updateOrganization({ organization: o3.id, domainData: [{ domain: name, state: 'verified' }] }),
      ConflictException, 409);
    assert.deepEqual(ids((await orgs.listOrganizations({ domains: [name] })).data).sort(), [o1.id, o2.id].sort());

    // Once the first organization lets go, the second one can verify it.
    await domains.deleteOrganizationDomain(d1.id);
    assert.equal((await domains.verifyOrganizationDomain(d2.id)).state, 'verified');
    await dnsTXT(recordName(d1));
  });
});

describe('organization memberships', () => {
  let org, org2, u1, u2, u3;
  before(async () => {
    org = await orgs.createOrganization({ name: orgName('members') });
    org2 = await orgs.createOrganization({ name: orgName('members-2') });
    u1 = await um.createUser({ email: email('m1') });
    u2 = await um.createUser({ email: email('m2') });
    u3 = await um.createUser({ email: email('m3') });
  });

  test('create (default role member, roleSlug admin), get, duplicate, unknown role', async () => {
    const m = await um.createOrganizationMembership({ userId: u1.id, organizationId: org.id });
    assertSdkMembership(m, {
      userId: u1.id, organizationId: org.id, organizationName: org.name, status: 'active', role: { slug: 'member' },
    });
    assert.deepEqual(await um.getOrganizationMembership(m.id), m);

    const admin = await um.createOrganizationMembership({ userId: u2.id, organizationId: org.id, roleSlug: 'admin' });
    assertSdkMembership(admin, { userId: u2.id, organizationId: org.id, status: 'active', role: { slug: 'admin' } });

    const dup = await rejectsWith(um.createOrganizationMembership({ userId: u1.id, organizationId: org.id, roleSlug: 'admin' }),
      ConflictException, 409);
    assert.equal(typeof dup.message, 'string');

    const bad = await rejectsWith(um.createOrganizationMembership({ userId: u3.id, organizationId: org.id, roleSlug: `nope-${RUN}` }),
      UnprocessableEntityException, 422);
    assert.equal(bad.code, 'invalid_role');
    await rejectsWith(um.createOrganizationMembership({ userId: u3.id, organizationId: org.id, roleSlugs: ['member', 'admin'] }),
      UnprocessableEntityException, 422);
    await rejectsWith(um.createOrganizationMembership({ userId: UNKNOWN_USER, organizationId: org.id }), NotFoundException, 404);
    await rejectsWith(um.createOrganizationMembership({ userId: u3.id, organizationId: UNKNOWN_ORG }), NotFoundException, 404);
    await rejectsWith(um.getOrganizationMembership(UNKNOWN_OM), NotFoundException, 404);

    const other = await um.createOrganizationMembership({ userId: u1.id, organizationId: org2.id, roleSlugs: ['admin'] });
    assertSdkMembership(other, { userId: u1.id, organizationId: org2.id, organizationName: org2.name, role: { slug: 'admin' } });
  });

  test('list by userId, organizationId, statuses; update; deactivate; reactivate; delete', async () => {
    const byUser = await um.listOrganizationMemberships({ userId: u1.id });
    assert.equal(byUser.object, 'list');
    assert.deepEqual(byUser.data.map((m) => m.organizationId).sort(), [org.id, org2.id].sort());
    for (const m of byUser.data) assertSdkMembership(m, { userId: u1.id });
    assert.deepEqual(byUser.listMetadata, { before: null, after: null });

    const byOrg = await um.listOrganizationMemberships({ organizationId: org.id });
    assert.deepEqual(byOrg.data.map((m) => m.userId).sort(), [u1.id, u2.id].sort());
    const m1 = byOrg.data.find((m) => m.userId === u1.id);

    const both = await um.listOrganizationMemberships({ userId: u1.id, organizationId: org.id });
    assert.deepEqual(ids(both.data), [m1.id]);

    const page = await um.listOrganizationMemberships({ organizationId: org.id, limit: 1 });
    assert.equal(page.data.length, 1);
    assert.ok(page.listMetadata.after, 'a first page of one has an after cursor');
    const page2 = await um.listOrganizationMemberships({ organizationId: org.id, limit: 1, after: page.listMetadata.after });
    assert.deepEqual([...ids(page.data), ...ids(page2.data)].sort(), ids(byOrg.data).sort(), 'limit/after walks every membership');
    const all = await (await um.listOrganizationMemberships({ organizationId: org.id })).autoPagination();
    assert.deepEqual(ids(all).sort(), ids(byOrg.data).sort(), 'autoPagination returns every membership');

    // updateOrganizationMembership changes the role.
    await sleep(5);
    const upd = await um.updateOrganizationMembership(m1.id, { roleSlug: 'admin' });
    assertSdkMembership(upd, { id: m1.id, role: { slug: 'admin' }, status: 'active', organizationName: org.name });
    assert.ok(upd.updatedAt > m1.updatedAt, 'updatedAt moves forward');
    assert.equal(upd.createdAt, m1.createdAt);
    assert.deepEqual((await um.getOrganizationMembership(m1.id)).role, { slug: 'admin' });
    const badUpd = await rejectsWith(um.updateOrganizationMembership(m1.id, { roleSlug: `nope-${RUN}` }), UnprocessableEntityException, 422);
    assert.equal(badUpd.code, 'invalid_role');
    await rejectsWith(um.updateOrganizationMembership(UNKNOWN_OM, { roleSlug: 'member' }), NotFoundException, 404);

    // Deactivate: gone from the default (active) lists, there with statuses.
    const off = await um.deactivateOrganizationMembership(m1.id);
    assertSdkMembership(off, { id: m1.id, status: 'inactive', role: { slug: 'admin' } });
    assert.equal((await um.deactivateOrganizationMembership(m1.id)).status, 'inactive', 'deactivating again is a no-op');
    assert.ok(!ids((await um.listOrganizationMemberships({ organizationId: org.id })).data).includes(m1.id), 'an inactive membership is not listed by default');
    const withInactive = await um.listOrganizationMemberships({ organizationId: org.id, statuses: ['active', 'inactive'] });
    assert.deepEqual(withInactive.data.map((m) => m.userId).sort(), [u1.id, u2.id].sort());
    const onlyInactive = await um.listOrganizationMemberships({ userId: u1.id, statuses: ['inactive'] });
    assert.deepEqual(ids(onlyInactive.data), [m1.id]);

    const on = await um.reactivateOrganizationMembership(m1.id);
    assertSdkMembership(on, { id: m1.id, status: 'active', role: { slug: 'admin' } });
    assert.ok(ids((await um.listOrganizationMemberships({ organizationId: org.id })).data).includes(m1.id));

    // Creating a membership for an inactive pair reactivates it.
    await um.deactivateOrganizationMembership(m1.id);
    const re = await um.createOrganizationMembership({ userId: u1.id, organizationId: org.id, roleSlug: 'member' });
    assertSdkMembership(re, { id: m1.id, status: 'active', role: { slug: 'member' } });

    // Delete.
    assert.equal(await um.deleteOrganizationMembership(m1.id), undefined);
    await rejectsWith(um.getOrganizationMembership(m1.id), NotFoundException, 404);
    await rejectsWith(um.deleteOrganizationMembership(m1.id), NotFoundException, 404);
    await rejectsWith(um.deactivateOrganizationMembership(m1.id), NotFoundException, 404);
    const after = await um.listOrganizationMemberships({ organizationId: org.id, statuses: ['active', 'inactive', 'pending'] });
    assert.deepEqual(after.data.map((m) => m.userId), [u2.id]);
    // And the pair can join again, with a new membership.
    const fresh = await um.createOrganizationMembership({ userId: u1.id, organizationId: org.id });
    assert.notEqual(fresh.id, m1.id);
    assert.equal(fresh.role.slug, 'member');

    // Neither user_id nor organization_id: 400.
    await assert.rejects(um.listOrganizationMemberships({}), (e) => {
      assert.equal(e.status, 400, `${e.name}: ${e.message}`);
      assert.equal(e.code, 'missing_user_id_or_organization_id');
      return true;
    });
    await rejectsWith(um.listOrganizationMemberships({ userId: u1.id, statuses: ['bogus'] }), UnprocessableEntityException, 422);
  });

  test('listUsers({organizationId}) lists the active members', async () => {
    const o = await orgs.createOrganization({ name: orgName('users-of') });
    const members = [];
    for (let i = 0; i < 3; i++) {
      const u = await um.createUser({ email: email(`org-user-${i}`) });
      members.push(u);
      await um.createOrganizationMembership({ userId: u.id, organizationId: o.id });
    }
    await um.createUser({ email: email('org-outsider') });
    const list = await um.listUsers({ organizationId: o.id });
    assert.deepEqual(ids(list.data).sort(), ids(members).sort());
    for (const u of list.data) assert.equal(u.object, 'user');
    assert.deepEqual(list.data.find((u) => u.id === members[0].id), await um.getUser(members[0].id));

    const p1 = await um.listUsers({ organizationId: o.id, limit: 2 });
    assert.equal(p1.data.length, 2);
    const rest = await um.listUsers({ organizationId: o.id, limit: 2, after: p1.listMetadata.after });
    assert.deepEqual([...ids(p1.data), ...ids(rest.data)].sort(), ids(members).sort());

    const empty = await orgs.createOrganization({ name: orgName('users-of-empty') });
    assert.deepEqual((await um.listUsers({ organizationId: empty.id })).data, []);
  });

  test('deleting an organization deletes its memberships; deleting a user too', async () => {
    const o = await orgs.createOrganization({ name: orgName('members-del') });
    const u = await um.createUser({ email: email('member-del') });
    const v = await um.createUser({ email: email('member-del-user') });
    const m = await um.createOrganizationMembership({ userId: u.id, organizationId: o.id });
    const mv = await um.createOrganizationMembership({ userId: v.id, organizationId: org2.id });
    await orgs.deleteOrganization(o.id);
    await rejectsWith(um.getOrganizationMembership(m.id), NotFoundException, 404);
    assert.deepEqual((await um.listOrganizationMemberships({ userId: u.id, statuses: ['active', 'inactive'] })).data, []);
    await um.deleteUser(v.id);
    await rejectsWith(um.getOrganizationMembership(mv.id), NotFoundException, 404);
    assert.ok(!ids((await um.listOrganizationMemberships({ organizationId: org2.id })).data).includes(mv.id));
  });
});

describe('roles', () => {
  test('listEnvironmentRoles has member and admin; createEnvironmentRole; getEnvironmentRole; duplicate', async () => {
    const az = workos.authorization;
    assert.equal(typeof az?.listEnvironmentRoles, 'function', 'the SDK has workos.authorization.listEnvironmentRoles');
    const list = await az.listEnvironmentRoles();
    assert.equal(list.object, 'list');
    const slugs = list.data.map((r) => r.slug);
    assert.ok(slugs.includes('member') && slugs.includes('admin'), `built-in roles: ${slugs}`);
    for (const r of list.data) assertSdkRole(r);

    const slug = `editor-${RUN}`;
    const created = await az.createEnvironmentRole({ slug, name: 'Editor', description: 'Edits things' });
    assertSdkRole(created, { slug, name: 'Editor', description: 'Edits things', permissions: [] });
    assert.deepEqual(await az.getEnvironmentRole(slug), created);
    assert.ok((await az.listEnvironmentRoles()).data.some((r) => r.id === created.id));
    const dup = await rejectsWith(az.createEnvironmentRole({ slug, name: 'Again' }), ConflictException, 409);
    assert.equal(dup.code, 'role_slug_conflict');
    await rejectsWith(az.createEnvironmentRole({ slug: 'Not A Slug!', name: 'Bad' }), UnprocessableEntityException, 422);
    await rejectsWith(az.getEnvironmentRole(`missing-${RUN}`), NotFoundException, 404);

    // A role without a description.
    const plain = await az.createEnvironmentRole({ slug: `plain-${RUN}`, name: 'Plain' });
    assert.equal(plain.description, null);

    // The new role can be given to a member.
    const o = await orgs.createOrganization({ name: orgName('roles') });
    const u = await um.createUser({ email: email('role-user') });
    const m = await um.createOrganizationMembership({ userId: u.id, organizationId: o.id, roleSlug: slug });
    assert.deepEqual(m.role, { slug });

    // The raw list has no list_metadata; the raw create answers 201.
    const res = await raw('GET', '/authorization/roles');
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.json).sort(), ['data', 'object']);
    const rc = await raw('POST', '/authorization/roles', { body: { slug: `raw-${RUN}`, name: 'Raw' } });
    assert.equal(rc.status, 201, rc.text);
    assert.equal(rc.json.slug, `raw-${RUN}`);
  });
});

describe('events', () => {
  test('listEvents returns deserialized organization, domain and membership events', async () => {
    const d = domainName('events');
    const name = orgName('events');
    const rangeStart = new Date(Date.now() - 1).toISOString();
    const o = await orgs.createOrganization({ name, externalId: `ext-ev-${RUN}`, metadata: { e: '1' } });
    const dom = await domains.createOrganizationDomain({ domain: d, organizationId: o.id });
    await dnsTXT(recordName(dom), dom.verificationToken);
    await domains.verifyOrganizationDomain(dom.id);
    await orgs.updateOrganization({ organization: o.id, name: `${name} renamed` });
    const u = await um.createUser({ email: email('event-user') });
    const m = await um.createOrganizationMembership({ userId: u.id, organizationId: o.id });
    await um.updateOrganizationMembership(m.id, { roleSlug: 'admin' });
    await um.deactivateOrganizationMembership(m.id);
    await um.deleteOrganizationMembership(m.id);
    await domains.deleteOrganizationDomain(dom.id);
    await orgs.deleteOrganization(o.id);
    await dnsTXT(recordName(dom));

    const created = await workos.events.listEvents({ events: ['organization.created'], organizationId: o.id, rangeStart });
    assert.equal(created.object, 'list');
    assert.equal(created.data.length, 1, JSON.stringify(created.data));
    const ev = created.data[0];
    assert.match(ev.id, EVENT_ID);
    assert.equal(ev.event, 'organization.created');
    assertIso(ev.createdAt, 'event createdAt');
    assert.ok(ev.createdAt >= rangeStart);
    assert.equal(ev.data.object, 'organization');
    assert.equal(ev.data.id, o.id);
    assert.equal(ev.data.name, name, 'event.data.name is the name at creation');
    assert.equal(ev.data.externalId, `ext-ev-${RUN}`, 'data is deserialized (camelCase)');
    assert.deepEqual(ev.data.metadata, { e: '1' });
    assert.ok(Array.isArray(ev.data.domains));

    const types = [
      'organization.created', 'organization.updated', 'organization.deleted',
      'organization_domain.created', 'organization_domain.verified', 'organization_domain.deleted',
      'organization_membership.created', 'organization_membership.updated', 'organization_membership.deleted',
    ];
    const all = await workos.events.listEvents({ events: types, organizationId: o.id, rangeStart, limit: 100 });
    assert.deepEqual(all.data.map((e) => e.event), [
      'organization.created',
      'organization_domain.created',
      'organization_domain.verified',
      'organization.updated',
      'organization_membership.created',
      'organization_membership.updated', // role change
      'organization_membership.updated', // deactivation
      'organization_membership.deleted',
      'organization_domain.deleted',
      'organization.deleted',
    ], 'every event of the organization, oldest first');
    for (let i = 1; i < all.data.length; i++) assert.ok(all.data[i].id > all.data[i - 1].id, 'ids increase');
    const byType = (t) => all.data.filter((e) => e.event === t);
    assert.equal(byType('organization.updated')[0].data.name, `${name} renamed`);
    const verified = byType('organization_domain.verified')[0].data;
    assert.equal(verified.object, 'organization_domain');
    assert.equal(verified.id, dom.id);
    assert.equal(verified.organizationId, o.id);
    assert.equal(verified.state, 'verified');
    const [mCreated, mRole, mOff] = [...byType('organization_membership.created'), ...byType('organization_membership.updated')];
    assert.equal(mCreated.data.object, 'organization_membership');
    assert.equal(mCreated.data.id, m.id);
    assert.equal(mCreated.data.userId, u.id);
    assert.equal(mCreated.data.organizationId, o.id);
    assert.deepEqual(mCreated.data.role, { slug: 'member' });
    assert.equal(mCreated.data.status, 'active');
    assert.deepEqual(mRole.data.role, { slug: 'admin' });
    assert.equal(mOff.data.status, 'inactive');

    // limit/after pagination walks the same events.
    const walked = [];
    let after;
    for (let i = 0; i < 20; i++) {
      const page = await workos.events.listEvents({ events: types, organizationId: o.id, rangeStart, limit: 3, after });
      assert.ok(page.data.length <= 3);
      walked.push(...page.data);
      after = page.listMetadata.after;
      if (!after) break;
      assert.equal(after, page.data[page.data.length - 1].id, 'after is the last event of the page');
    }
    assert.deepEqual(ids(walked), ids(all.data));

    // rangeStart after everything: nothing.
    const later = await workos.events.listEvents({ events: types, organizationId: o.id, rangeStart: new Date(Date.now() + 60000).toISOString() });
    assert.deepEqual(later.data, []);

    // An unknown event type is 422.
    const bad = await raw('GET', `/events?events=${encodeURIComponent('organization.exploded')}`);
    assert.equal(bad.status, 422, bad.text);

    // The membership in an event is the same resource as the API shows: its
    // organization_name is the organization's name, not an empty string.
    for (const e of [mCreated, mRole, mOff]) {
      assert.ok(e.data.organizationName === undefined || e.data.organizationName.startsWith(name),
        `${e.event} data.organization_name is the organization's name (got ${JSON.stringify(e.data.organizationName)})`);
    }
  });

  test('organization events carry the organization as the API shows it, with its domains', async () => {
    const rangeStart = new Date(Date.now() - 1).toISOString();
    const d = domainName('event-domains');
    const o = await orgs.createOrganization({ name: orgName('event-domains'), domainData: [{ domain: d, state: 'verified' }] });
    const renamed = await orgs.updateOrganization({ organization: o.id, name: `${o.name} renamed` });
    const list = await workos.events.listEvents({ events: ['organization.created', 'organization.updated'], organizationId: o.id, rangeStart });
    assert.deepEqual(list.data.map((e) => e.event), ['organization.created', 'organization.updated']);
    const [created, updated] = list.data;
    assert.deepEqual(created.data.domains.map((x) => [x.id, x.domain, x.state]), o.domains.map((x) => [x.id, x.domain, x.state]),
      'organization.created data.domains are the domains the organization was created with');
    assert.deepEqual(updated.data.domains.map((x) => x.id), renamed.domains.map((x) => x.id),
      'organization.updated data.domains are the organization\'s domains');
  });

  test('user events are deserialized users, and no event data holds a password hash', async () => {
    const rangeStart = new Date(Date.now() - 1).toISOString();
    const withPassword = await um.createUser({ email: email('ev-pw'), password: STRONG_PASSWORD });
    const withHash = await um.createUser({ email: email('ev-hash'), passwordHash: BCRYPT_HASH, passwordHashType: 'bcrypt' });
    await um.updateUser({ userId: withPassword.id, password: `${STRONG_PASSWORD}-2` });
    await um.updateUser({ userId: withHash.id, firstName: 'Hashed' });

    const list = await workos.events.listEvents({ events: ['user.created', 'user.updated'], rangeStart, limit: 100 });
    const mine = list.data.filter((e) => e.data.id === withPassword.id || e.data.id === withHash.id);
    assert.ok(mine.length >= 3, `user events of this test: ${mine.map((e) => e.event)}`);
    const created = mine.find((e) => e.event === 'user.created' && e.data.id === withHash.id);
    assert.ok(created, 'user.created for the imported user');
    assert.equal(created.data.object, 'user');
    assert.equal(created.data.email, withHash.email);
    assert.equal(typeof created.data.emailVerified, 'boolean', 'data is a deserialized user');
    const updated = mine.find((e) => e.event === 'user.updated' && e.data.id === withHash.id);
    assert.equal(updated?.data.firstName, 'Hashed');

    // No event the API shows, of any type, carries password material.
    const res = await raw('GET', `/events?range_start=${encodeURIComponent(STARTED)}&limit=100`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.data.length > 0);
    assert.deepEqual(Object.keys(res.json.list_metadata), ['after'], '/events list_metadata has only after');
    for (const e of res.json.data) {
      assert.equal(e.object, 'event');
      assert.match(e.id, EVENT_ID);
      for (const k of Object.keys(e.data)) assert.ok(!/password|hash|secret/i.test(k), `${e.event} data has no ${k}`);
    }
    for (const needle of [BCRYPT_HASH, '$2a$', 'password_hash', STRONG_PASSWORD]) {
      assert.ok(!res.text.includes(needle), `no ${needle} in /events`);
    }
  });
});

// The SDK sends an Idempotency-Key on every POST (workos-api.md section 1):
// each create must answer it, and a replay must return the same answer.
describe('Idempotency-Key on every create', () => {
  test('organization domains, domain verify, memberships and roles answer and replay a keyed POST', async () => {
    const org = await orgs.createOrganization({ name: orgName('idem-all') });
    const u = await um.createUser({ email: email('idem-all') });
    const cases = [
      ['POST', '/organization_domains', { domain: domainName('idem'), organization_id: org.id }, 201, 'organization_domain'],
      ['POST', '/user_management/organization_memberships', { user_id: u.id, organization_id: org.id }, 201, 'organization_membership'],
      ['POST', '/authorization/roles', { slug: `idem-${RUN}`, name: 'Idem' }, 201, 'role'],
    ];
    for (const [method, path, body, status, object] of cases) {
      const key = `sdk-idem-${RUN}-${randomUUID()}`;
      const first = await raw(method, path, { body, headers: { 'Idempotency-Key': key } });
      assert.equal(first.status, status, `${method} ${path} with an Idempotency-Key: ${first.status} ${first.text}`);
      assert.equal(first.json.object, object);
      const again = await raw(method, path, { body, headers: { 'Idempotency-Key': key } });
      assert.equal(again.status, status, `replayed ${method} ${path}: ${again.text}`);
      assert.deepEqual(again.json, first.json, `replayed ${method} ${path} returns the same body`);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
    }
    const d = (await orgs.getOrganization(org.id)).domains[0];
    const key = `sdk-idem-verify-${RUN}`;
    const v = await raw('POST', `/organization_domains/${d.id}/verify`, { body: {}, headers: { 'Idempotency-Key': key } });
    assert.equal(v.status, 201, `POST /organization_domains/:id/verify with an Idempotency-Key: ${v.status} ${v.text}`);
    assert.equal(v.json.id, d.id);
    assert.equal(v.json.state, 'pending');
  });
});

describe('tenancy', { skip: PROD_API_KEY ? false : 'KEYWAY_PROD_API_KEY is not set' }, () => {
  let prod;
  before(() => {
    prod = client(PROD_API_KEY);
  });

  test('production cannot see or change a staging organization, domain or membership', async () => {
    const externalId = `ext-tenant-${RUN}`;
    const d = domainName('tenant');
    const o = await orgs.createOrganization({ name: orgName('tenant'), externalId, domainData: [{ domain: d, state: 'verified' }] });
    const dom = await domains.createOrganizationDomain({ domain: domainName('tenant-pending'), organizationId: o.id });
    const u = await um.createUser({ email: email('tenant') });
    const m = await um.createOrganizationMembership({ userId: u.id, organizationId: o.id });

    await rejectsWith(prod.organizations.getOrganization(o.id), NotFoundException, 404);
    await rejectsWith(prod.organizations.getOrganizationByExternalId(externalId), NotFoundException, 404);
    await rejectsWith(prod.organizations.updateOrganization({ organization: o.id, name: 'Hijack' }), NotFoundException, 404);
    await rejectsWith(prod.organizations.deleteOrganization(o.id), NotFoundException, 404);
    assert.deepEqual((await prod.organizations.listOrganizations({ domains: [d] })).data, []);
    await rejectsWith(prod.organizationDomains.getOrganizationDomain(dom.id), NotFoundException, 404);
    await rejectsWith(prod.organizationDomains.verifyOrganizationDomain(dom.id), NotFoundException, 404);
    await rejectsWith(prod.organizationDomains.deleteOrganizationDomain(dom.id), NotFoundException, 404);
    await rejectsWith(prod.organizationDomains.createOrganizationDomain({ domain: domainName('tenant-x'), organizationId: o.id }),
      NotFoundException, 404);

    await rejectsWith(prod.userManagement.getOrganizationMembership(m.id), NotFoundException, 404);
    await rejectsWith(prod.userManagement.updateOrganizationMembership(m.id, { roleSlug: 'admin' }), NotFoundException, 404);
    await rejectsWith(prod.userManagement.deactivateOrganizationMembership(m.id), NotFoundException, 404);
    await rejectsWith(prod.userManagement.deleteOrganizationMembership(m.id), NotFoundException, 404);
    assert.deepEqual((await prod.userManagement.listOrganizationMemberships({ organizationId: o.id })).data, []);
    assert.deepEqual((await prod.userManagement.listUsers({ organizationId: o.id })).data, []);
    const pu = await prod.userManagement.createUser({ email: email('tenant-prod') });
    await rejectsWith(prod.userManagement.createOrganizationMembership({ userId: pu.id, organizationId: o.id }), NotFoundException, 404);
    assert.deepEqual((await prod.events.listEvents({ events: ['organization.created'], organizationId: o.id, rangeStart: STARTED })).data, []);

    // Claims are per environment: production may verify the same domain.
    const po = await prod.organizations.createOrganization({ name: orgName('tenant-prod'), externalId, domainData: [{ domain: d, state: 'verified' }] });
    assert.notEqual(po.id, o.id);
    assert.equal((await prod.organizations.getOrganizationByExternalId(externalId)).id, po.id);
    await rejectsWith(orgs.getOrganization(po.id), NotFoundException, 404);

    // Staging is intact.
    const got = await orgs.getOrganization(o.id);
    assert.equal(got.name, o.name);
    assert.equal((await um.getOrganizationMembership(m.id)).status, 'active');
    assert.equal((await domains.getOrganizationDomain(dom.id)).state, 'pending');
  });
});
