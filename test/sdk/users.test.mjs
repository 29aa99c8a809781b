// The official WorkOS Node SDK (@workos-inc/node 11.0.0) against a running
// Keyway: every users call, error mapping, response shapes, idempotency keys
// and environment isolation. sdk_test.go starts the server and runs this file
// with `node --test`; it can also be run by hand against any Keyway:
//
//	KEYWAY_PORT=8080 KEYWAY_API_KEY=sk_test_... KEYWAY_CLIENT_ID=client_01... \
//	  [KEYWAY_PROD_API_KEY=sk_live_...] node --test test/sdk/
//
// Every email uses a domain unique to this run, so runs never collide.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  NotFoundException,
  UnauthorizedException,
  UnprocessableEntityException,
  BadRequestException,
  GenericServerException,
} from '@workos-inc/node';
import {
  API_KEY, PROD_API_KEY, RUN, newClient, runDomain, emailsAt,
  PASSWORD as STRONG_PASSWORD, BCRYPT_HASH, USER_ID, unknownId, ids,
  assertIso as assertIsoTimestamp, rejectsWith as rejectsWithError, rawJSON as raw,
} from './support.mjs';

const client = (key) => newClient(key);

const workos = client(API_KEY);
const um = workos.userManagement;

// A domain of its own for this run.
const DOMAIN = runDomain('keyway-sdk');
const email = emailsAt(DOMAIN);

// A well-formed user id that no user has.
const UNKNOWN_ID = unknownId('user');

// The keys of the WorkOS user object on the wire (workos-api.md section 3).
const WIRE_USER_KEYS = [
  'object', 'id', 'email', 'email_verified', 'first_name', 'last_name', 'name', 'profile_picture_url',
  'last_sign_in_at', 'locale', 'external_id', 'metadata', 'created_at', 'updated_at',
].sort();

// Timestamps here must also round-trip through Date.
const assertIso = (value, what) => assertIsoTimestamp(value, what, { roundTrip: true });

// assertSdkUser checks a user as the SDK's deserializer returns it.
function assertSdkUser(u, want = {}) {
  assert.equal(u.object, 'user');
  assert.match(u.id, USER_ID);
  assert.equal(typeof u.email, 'string');
  assert.equal(typeof u.emailVerified, 'boolean');
  assertIso(u.createdAt, 'createdAt');
  assertIso(u.updatedAt, 'updatedAt');
  assert.ok(u.updatedAt >= u.createdAt, 'updatedAt >= createdAt');
  assert.equal(u.profilePictureUrl, null);
  assert.equal(u.lastSignInAt, null);
  assert.ok(u.metadata !== null && typeof u.metadata === 'object' && !Array.isArray(u.metadata), 'metadata is an object');
  for (const k of ['password', 'passwordHash', 'password_hash']) {
    assert.ok(!(k in u), `no ${k} in the user`);
  }
  for (const [k, v] of Object.entries(want)) {
    assert.deepEqual(u[k], v, `user.${k}`);
  }
}

// assertWireUser checks the raw JSON user object.
function assertWireUser(u) {
  assert.deepEqual(Object.keys(u).sort(), WIRE_USER_KEYS, 'wire user has exactly the WorkOS user fields');
  assert.equal(u.object, 'user');
  assert.match(u.id, USER_ID);
  assertIso(u.created_at, 'created_at');
  assertIso(u.updated_at, 'updated_at');
}

// rejectsWith checks the error's class (Klass or a subclass) and status.
const rejectsWith = (promise, Klass, status) => rejectsWithError(promise, Klass, status, { subclasses: true });

// walk follows list_metadata.after from the first page to the end.
async function walk(options) {
  const pages = [];
  let after;
  for (let i = 0; i < 1000; i++) {
    const page = await um.listUsers({ ...options, after });
    pages.push(page);
    after = page.listMetadata.after;
    if (!after) break;
  }
  return pages;
}

describe('users', () => {
  test('createUser with a password', async () => {
    const addr = email('password');
    const u = await um.createUser({ email: addr, password: STRONG_PASSWORD, firstName: 'Ada', lastName: 'Lovelace' });
    assertSdkUser(u, {
      email: addr, emailVerified: false, firstName: 'Ada', lastName: 'Lovelace', name: null,
      locale: null, externalId: null, metadata: {},
    });
    assert.equal(u.createdAt, u.updatedAt, 'a new user has updatedAt == createdAt');
  });

  test('createUser with a bcrypt password_hash', async () => {
    const addr = email('bcrypt');
    const u = await um.createUser({ email: addr, passwordHash: BCRYPT_HASH, passwordHashType: 'bcrypt', emailVerified: true });
    assertSdkUser(u, { email: addr, emailVerified: true, externalId: null, metadata: {} });
    const got = await um.getUser(u.id);
    assert.deepEqual(got, u);
  });

  test('createUser rejects an invalid bcrypt hash with 422', async () => {
    await rejectsWith(
      um.createUser({ email: email('badhash'), passwordHash: 'not-a-bcrypt-hash', passwordHashType: 'bcrypt' }),
      UnprocessableEntityException, 422,
    );
  });

  test('createUser with externalId and metadata, getUser, getUserByExternalId', async () => {
    const addr = email('external');
    const externalId = `ext-${RUN}-${randomUUID()}`;
    const metadata = { plan: 'pro', team: 'core' };
    const u = await um.createUser({ email: addr, externalId, metadata, name: 'Grace Hopper' });
    assertSdkUser(u, { email: addr, externalId, metadata, name: 'Grace Hopper', firstName: null, lastName: null });

    const byId = await um.getUser(u.id);
    assert.deepEqual(byId, u);

    const byExt = await um.getUserByExternalId(externalId);
    assert.deepEqual(byExt, u);

    // The external id is unique: a second user cannot take it.
    await assert.rejects(um.createUser({ email: email('external-dup'), externalId }), (e) => {
      assert.ok(e.status === 400 || e.status === 422, `${e.name} ${e.status}: ${e.message}`);
      assert.ok(e.code, 'the error carries a code');
      return true;
    });

    await rejectsWith(um.getUserByExternalId(`ext-${RUN}-missing`), NotFoundException, 404);
  });

  test('updateUser: names, metadata (null deletes a key), email change', async () => {
    const oldEmail = email('update-old');
    const created = await um.createUser({
      email: oldEmail, firstName: 'Old', lastName: 'Name', metadata: { keep: '1', drop: '2', change: 'a' },
    });

    // Make sure updated_at can move on even at millisecond resolution.
    await new Promise((r) => setTimeout(r, 5));

    const named = await um.updateUser({ userId: created.id, firstName: 'New', lastName: null, name: 'New Person' });
    assertSdkUser(named, { id: created.id, email: oldEmail, firstName: 'New', lastName: null, name: 'New Person' });
    assert.deepEqual(named.metadata, { keep: '1', drop: '2', change: 'a' }, 'metadata is untouched when not sent');
    assert.equal(named.createdAt, created.createdAt, 'createdAt does not change');
    assert.ok(named.updatedAt > created.updatedAt, `updatedAt moves forward (${created.updatedAt} -> ${named.updatedAt})`);

    const md = await um.updateUser({ userId: created.id, metadata: { drop: null, change: 'b', added: 'c' } });
    assert.deepEqual(md.metadata, { keep: '1', change: 'b', added: 'c' });
    assert.equal(md.firstName, 'New', 'fields not sent are kept');
    assert.equal(md.name, 'New Person');

    const newEmail = email('update-new');
    const moved = await um.updateUser({ userId: created.id, email: newEmail });
    assert.equal(moved.email, newEmail);
    assert.equal(moved.id, created.id);

    const got = await um.getUser(created.id);
    assert.deepEqual(got, moved, 'getUser reads the update back');

    const byNew = await um.listUsers({ email: newEmail });
    assert.deepEqual(ids(byNew.data), [created.id]);
    const byOld = await um.listUsers({ email: oldEmail });
    assert.deepEqual(byOld.data, [], 'the old email no longer finds the user');

    // The old email is free again.
    const reuse = await um.createUser({ email: oldEmail });
    assert.notEqual(reuse.id, created.id);

    // And the new one is taken: 400 email_not_available on update.
    const other = await um.createUser({ email: email('update-other') });
    await assert.rejects(um.updateUser({ userId: other.id, email: newEmail }), (e) => {
      assert.equal(e.status, 400, `${e.name}: ${e.message}`);
      assert.equal(e.code, 'email_not_available');
      return true;
    });

    await rejectsWith(um.updateUser({ userId: UNKNOWN_ID, firstName: 'x' }), NotFoundException, 404);
  });

  test('listUsers: email filter', async () => {
    const addr = email('filter');
    const u = await um.createUser({ email: addr });
    await um.createUser({ email: email('filter-other') });

    const list = await um.listUsers({ email: addr });
    assert.equal(list.object, 'list');
    assert.deepEqual(ids(list.data), [u.id]);
    assertSdkUser(list.data[0], { email: addr });
    assert.deepEqual(list.listMetadata, { before: null, after: null });

    // Emails are case-insensitive.
    const upper = await um.listUsers({ email: addr.toUpperCase() });
    assert.deepEqual(ids(upper.data), [u.id]);

    const none = await um.listUsers({ email: `nobody-${RUN}@${DOMAIN}` });
    assert.deepEqual(none.data, []);
    assert.deepEqual(none.listMetadata, { before: null, after: null });
  });

  test('listUsers: raw list envelope', async () => {
    const res = await raw('GET', '/user_management/users?limit=1');
    assert.equal(res.status, 200);
    assert.equal(res.json.object, 'list');
    assert.ok(Array.isArray(res.json.data));
    assert.equal(res.json.data.length, 1);
    assertWireUser(res.json.data[0]);
    assert.deepEqual(Object.keys(res.json.list_metadata).sort(), ['after', 'before']);
  });

  test('listUsers: limit/after/before pagination, order asc vs desc, autoPagination', async () => {
    // A batch created one after another, so ids (ULIDs) increase in this order.
    const batch = [];
    for (let i = 0; i < 12; i++) {
      batch.push(await um.createUser({ email: email(`page-${String(i).padStart(2, '0')}`) }));
    }
    const batchIds = ids(batch);
    for (let i = 1; i < batchIds.length; i++) {
      assert.ok(batchIds[i] > batchIds[i - 1], 'ids increase with creation');
    }
    const newestFirst = [...batchIds].reverse();

    // Default order is desc: the newest users come first.
    const p1 = await um.listUsers({ limit: 5 });
    assert.deepEqual(ids(p1.data), newestFirst.slice(0, 5));
    assert.equal(p1.listMetadata.before, null, 'the first page has no before cursor');
    assert.equal(p1.listMetadata.after, newestFirst[4], 'after is the last item of the page');

    const p2 = await um.listUsers({ limit: 5, after: p1.listMetadata.after });
    assert.deepEqual(ids(p2.data), newestFirst.slice(5, 10));
    assert.equal(p2.listMetadata.before, newestFirst[5], 'before is the first item of the page');
    assert.equal(p2.listMetadata.after, newestFirst[9]);

    const p3 = await um.listUsers({ limit: 5, after: p2.listMetadata.after });
    assert.deepEqual(ids(p3.data).slice(0, 2), newestFirst.slice(10, 12));

    // Back from page 2 with before: page 1 again.
    const back = await um.listUsers({ limit: 5, before: p2.listMetadata.before });
    assert.deepEqual(ids(back.data), ids(p1.data));
    assert.equal(back.listMetadata.before, null, 'nothing comes before the first page');
    assert.equal(back.listMetadata.after, newestFirst[4]);

    // The explicit desc order is the default one.
    const descExplicit = await um.listUsers({ limit: 5, order: 'desc' });
    assert.deepEqual(ids(descExplicit.data), ids(p1.data));

    // Whole walks in both orders: asc is desc reversed, without repeats.
    const descAll = (await walk({ limit: 7 })).flatMap((p) => ids(p.data));
    const ascPages = await walk({ limit: 7, order: 'asc' });
    const ascAll = ascPages.flatMap((p) => ids(p.data));
    assert.equal(new Set(descAll).size, descAll.length, 'no user twice in a desc walk');
    assert.deepEqual(ascAll, [...descAll].reverse(), 'asc is the reverse of desc');
    assert.deepEqual(ascAll.slice(-batchIds.length), batchIds, 'asc ends with the batch, oldest first');
    assert.equal(ascPages[0].listMetadata.before, null);
    for (let i = 1; i < ascAll.length; i++) {
      assert.ok(ascAll[i] > ascAll[i - 1], 'asc is sorted by id');
    }

    // A before cursor in asc order pages backwards too.
    if (ascPages.length > 1) {
      const ascBack = await um.listUsers({ limit: 7, order: 'asc', before: ascPages[1].listMetadata.before });
      assert.deepEqual(ids(ascBack.data), ids(ascPages[0].data));
    }

    // autoPagination follows the cursors to every user.
    const auto = await (await um.listUsers()).autoPagination();
    const autoIds = ids(auto);
    assert.ok(autoIds.length > 10, `autoPagination returns more than one default page (${autoIds.length})`);
    assert.deepEqual(autoIds, descAll, 'autoPagination returns every user, newest first');
    for (const id of batchIds) assert.ok(autoIds.includes(id));
    const autoDomain = auto.filter((u) => u.email.endsWith(`@${DOMAIN}`));
    assert.ok(autoDomain.length > 10, 'more than 10 users of this run');
    for (const u of auto) assertSdkUser(u);

    // The default page size is 10.
    const defaultPage = await um.listUsers();
    assert.equal(defaultPage.data.length, 10);
    assert.equal(defaultPage.listMetadata.after, defaultPage.data[9].id);
  });

  test('listUsers rejects a bad limit with 422', async () => {
    await rejectsWith(um.listUsers({ limit: 1000 }), UnprocessableEntityException, 422);
  });

  test('deleteUser, then getUser is NotFoundException', async () => {
    const externalId = `ext-del-${RUN}`;
    const addr = email('delete');
    const u = await um.createUser({ email: addr, externalId });
    const ret = await um.deleteUser(u.id);
    assert.equal(ret, undefined);

    const err = await rejectsWith(um.getUser(u.id), NotFoundException, 404);
    assert.equal(typeof err.message, 'string');
    assert.ok(err.requestID, 'the error carries the X-Request-ID');
    await rejectsWith(um.getUserByExternalId(externalId), NotFoundException, 404);
    await rejectsWith(um.deleteUser(u.id), NotFoundException, 404);
    await rejectsWith(um.updateUser({ userId: u.id, firstName: 'Ghost' }), NotFoundException, 404);
    assert.deepEqual((await um.listUsers({ email: addr })).data, []);

    // Deleting frees the email and the external id.
    const again = await um.createUser({ email: addr, externalId });
    assert.notEqual(again.id, u.id);

    // The raw DELETE answers 200.
    const res = await raw('DELETE', `/user_management/users/${again.id}`);
    assert.equal(res.status, 200);
  });

  test('error mapping', async (t) => {
    await t.test('duplicate email is UnprocessableEntityException', async () => {
      const addr = email('dup');
      await um.createUser({ email: addr });
      await rejectsWith(um.createUser({ email: addr }), UnprocessableEntityException, 422);
      await rejectsWith(um.createUser({ email: addr.toUpperCase() }), UnprocessableEntityException, 422);
    });

    await t.test('weak password is 400 password_strength_error', async () => {
      const addr = email('weak');
      let err;
      try {
        await um.createUser({ email: addr, password: 'short' });
      } catch (e) {
        err = e;
      }
      assert.ok(err, 'a weak password is rejected');
      assert.ok(err instanceof BadRequestException || err instanceof GenericServerException, `${err.name}: ${err.message}`);
      assert.equal(err.status, 400);
      assert.equal(err.code, 'password_strength_error');
      const problems = err.errors ?? err.rawData?.errors;
      assert.ok(Array.isArray(problems) && problems.length > 0, 'errors[] lists the problems');
      for (const p of problems) assert.equal(typeof p.code, 'string');
      // Nothing was created.
      assert.deepEqual((await um.listUsers({ email: addr })).data, []);
    });

    await t.test('unknown id is NotFoundException', async () => {
      await rejectsWith(um.getUser(UNKNOWN_ID), NotFoundException, 404);
      await rejectsWith(um.getUser('user_not-an-id'), NotFoundException, 404);
      await rejectsWith(um.deleteUser(UNKNOWN_ID), NotFoundException, 404);
    });

    await t.test('wrong API key is UnauthorizedException', async () => {
      const bad = client(`sk_test_${randomBytes(16).toString('hex')}`);
      await rejectsWith(bad.userManagement.listUsers(), UnauthorizedException, 401);
      await rejectsWith(bad.userManagement.getUser(UNKNOWN_ID), UnauthorizedException, 401);
      const unauth = email('unauth');
      await rejectsWith(bad.userManagement.createUser({ email: unauth }), UnauthorizedException, 401);
      assert.deepEqual((await um.listUsers({ email: unauth })).data, []);

      const none = await raw('GET', '/user_management/users', { key: '' });
      assert.equal(none.status, 401);
    });

    await t.test('invalid email is UnprocessableEntityException', async () => {
      await rejectsWith(um.createUser({ email: 'not-an-email' }), UnprocessableEntityException, 422);
    });
  });

  test('Idempotency-Key on the raw HTTP API', async () => {
    const key = `sdk-test-${RUN}-${randomUUID()}`;
    const addr = email('idem');
    const body = { email: addr, first_name: 'Idem', metadata: { k: 'v' } };

    const first = await raw('POST', '/user_management/users', { body, headers: { 'Idempotency-Key': key } });
    assert.equal(first.status, 201, first.text);
    assertWireUser(first.json);
    assert.equal(first.json.email, addr);
    assert.equal(first.json.first_name, 'Idem');
    assert.deepEqual(first.json.metadata, { k: 'v' });
    assert.equal(first.headers.get('idempotent-replayed'), null, 'the first answer is not a replay');
    assert.ok(first.headers.get('x-request-id'), 'X-Request-ID is set');

    const second = await raw('POST', '/user_management/users', { body, headers: { 'Idempotency-Key': key } });
    assert.equal(second.status, 201, second.text);
    assert.equal(second.json.id, first.json.id, 'the replay returns the same user');
    assert.deepEqual(second.json, first.json, 'the replay returns the same body');
    assert.equal(second.headers.get('idempotent-replayed'), 'true');

    const reused = await raw('POST', '/user_management/users', {
      body: { ...body, first_name: 'Different' }, headers: { 'Idempotency-Key': key },
    });
    assert.equal(reused.status, 400, reused.text);
    assert.equal(reused.json.code, 'idempotency_key_reused');
    assert.equal(typeof reused.json.message, 'string');

    const list = await um.listUsers({ email: addr });
    assert.deepEqual(ids(list.data), [first.json.id], 'only one user was created');

    // Without a key, the same body is a new request: 422 duplicate email.
    const dup = await raw('POST', '/user_management/users', { body });
    assert.equal(dup.status, 422, dup.text);

    // A key is scoped to its environment's request, not global to the body.
    const fresh = await raw('POST', '/user_management/users', {
      body: { email: email('idem-fresh') }, headers: { 'Idempotency-Key': `${key}-other` },
    });
    assert.equal(fresh.status, 201, fresh.text);
    assert.notEqual(fresh.json.id, first.json.id);
  });

  // The SDK retries a POST with the same Idempotency-Key (after a timeout or
  // a 5xx), so a retry may arrive while the first request is still running.
  // It must never be told that its own email is taken: every answer is the
  // one user (201, replayed) or at worst a retryable 409, and only one user
  // exists afterwards.
  test('Idempotency-Key: concurrent requests with one key create one user', async () => {
    // Several rounds, since a race shows only when requests overlap.
    for (let round = 0; round < 3; round++) {
      const key = `sdk-conc-${RUN}-${randomUUID()}`;
      const addr = email(`idem-conc-${round}`);
      const body = { email: addr, last_name: 'Concurrent' };
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => raw('POST', '/user_management/users', { body, headers: { 'Idempotency-Key': key } })),
      );
      const summary = `round ${round}: ` +
        JSON.stringify(answers.map((a) => [a.status, a.headers.get('idempotent-replayed'), a.json?.id ?? a.json?.code]));
      for (const a of answers) {
        assert.ok(a.status === 201 || a.status === 409,
          `each answer is 201 (same user) or 409 (in progress), never 422 email taken: ${summary}`);
      }
      const created = answers.filter((a) => a.status === 201);
      assert.ok(created.length >= 1, summary);
      assert.equal(new Set(created.map((a) => a.json.id)).size, 1, `one id for the key: ${summary}`);
      assert.equal(created.filter((a) => a.headers.get('idempotent-replayed') !== 'true').length, 1,
        `exactly one answer is not a replay: ${summary}`);
      const list = await um.listUsers({ email: addr });
      assert.deepEqual(ids(list.data), [created[0].json.id], 'only one user was created');
    }
  });

  test('raw user object shape', async () => {
    const u = await um.createUser({ email: email('shape'), externalId: `ext-shape-${RUN}` });
    const res = await raw('GET', `/user_management/users/${u.id}`);
    assert.equal(res.status, 200);
    assertWireUser(res.json);
    assert.equal(res.json.external_id, `ext-shape-${RUN}`);
    assert.deepEqual(res.json.metadata, {});
    assert.equal(res.json.email_verified, false);

    const missing = await raw('GET', `/user_management/users/${UNKNOWN_ID}`);
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.json.message, 'string');
  });

  describe('tenancy', { skip: PROD_API_KEY ? false : 'KEYWAY_PROD_API_KEY is not set' }, () => {
    let prod;
    before(() => {
      prod = client(PROD_API_KEY).userManagement;
    });

    test('production cannot see, change or delete a staging user', async () => {
      const addr = email('tenant-staging');
      const externalId = `ext-tenant-staging-${RUN}`;
      const u = await um.createUser({ email: addr, externalId });

      await rejectsWith(prod.getUser(u.id), NotFoundException, 404);
      await rejectsWith(prod.getUserByExternalId(externalId), NotFoundException, 404);
      await rejectsWith(prod.updateUser({ userId: u.id, firstName: 'Hijack' }), NotFoundException, 404);
      await rejectsWith(prod.deleteUser(u.id), NotFoundException, 404);
      assert.deepEqual((await prod.listUsers({ email: addr })).data, []);
      const all = await (await prod.listUsers()).autoPagination();
      assert.ok(!ids(all).includes(u.id), 'the staging user is not in the production list');

      // Still intact in staging.
      const got = await um.getUser(u.id);
      assert.equal(got.firstName, null);
      assert.equal(got.email, addr);
    });

    test('staging cannot see, change or delete a production user', async () => {
      const addr = email('tenant-prod');
      const externalId = `ext-tenant-prod-${RUN}`;
      const p = await prod.createUser({ email: addr, externalId, password: STRONG_PASSWORD });
      assertSdkUser(p, { email: addr, externalId });

      await rejectsWith(um.getUser(p.id), NotFoundException, 404);
      await rejectsWith(um.getUserByExternalId(externalId), NotFoundException, 404);
      await rejectsWith(um.updateUser({ userId: p.id, firstName: 'Hijack' }), NotFoundException, 404);
      await rejectsWith(um.deleteUser(p.id), NotFoundException, 404);
      assert.deepEqual((await um.listUsers({ email: addr })).data, []);
      const all = await (await um.listUsers()).autoPagination();
      assert.ok(!ids(all).includes(p.id), 'the production user is not in the staging list');

      // Emails and external ids are unique per environment, not globally.
      const s = await um.createUser({ email: addr, externalId });
      assert.notEqual(s.id, p.id);
      assert.equal((await prod.getUserByExternalId(externalId)).id, p.id);
      assert.equal((await um.getUserByExternalId(externalId)).id, s.id);

      // Idempotency keys are per environment too.
      const key = `sdk-tenant-${RUN}`;
      const a = await raw('POST', '/user_management/users', { body: { email: email('tenant-idem-a') }, headers: { 'Idempotency-Key': key } });
      const b = await raw('POST', '/user_management/users', {
        key: PROD_API_KEY, body: { email: email('tenant-idem-b') }, headers: { 'Idempotency-Key': key },
      });
      assert.equal(a.status, 201, a.text);
      assert.equal(b.status, 201, b.text);
      assert.equal(b.headers.get('idempotent-replayed'), null);
      assert.notEqual(a.json.id, b.json.id);

      await prod.deleteUser(p.id);
      await rejectsWith(prod.getUser(p.id), NotFoundException, 404);
      assert.equal((await um.getUser(s.id)).id, s.id, 'deleting in production leaves staging alone');
    });
  });
});
