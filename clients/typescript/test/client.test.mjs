// The compiled client against a live API (tests/test_typescript_client.py starts one and sets
// CRM_API_URL, CRM_EMAIL and CRM_PASSWORD): log in, list customers, create one.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createCrmClient, login } from "../dist/src/index.js";

const baseUrl = process.env.CRM_API_URL;
const email = process.env.CRM_EMAIL;
const password = process.env.CRM_PASSWORD;

test("logs in, lists customers and creates one", { skip: !baseUrl && "CRM_API_URL not set" }, async () => {
  const client = createCrmClient({ baseUrl });

  // without a token: 401 in the error envelope
  const anonymous = await client.GET("/api/customers/");
  assert.equal(anonymous.response.status, 401);
  assert.deepEqual(Object.keys(anonymous.error).sort(), ["details", "error", "status_code"]);

  const session = await login(client, email, password);
  assert.equal(session.user.email, email);
  assert.equal(typeof session.user.first_name, "string");
  assert.equal(session.user.firstName, undefined);
  assert.equal(client.session.accessToken, session.tokens.access);

  const organizations = await client.GET("/api/organizations/my_organizations/");
  assert.equal(organizations.response.status, 200);
  const organization = organizations.data[0];
  client.session.organizationId = organization.id;

  const listed = await client.GET("/api/customers/", { params: { query: { page_size: 5 } } });
  assert.equal(listed.response.status, 200);
  assert.ok(listed.data.count > 0);
  assert.equal(listed.data.results.length, 5);
  const first = listed.data.results[0];
  assert.deepEqual(Object.keys(first).sort(), [
    "assigned_to_name", "code", "customer_type", "email", "id", "name", "phone", "status",
  ]);
  assert.equal(first.full_name, undefined);

  const created = await client.POST("/api/customers/", {
    body: { name: "Ada Lovelace", email: "ada@example.com", customer_type: "individual" },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  assert.equal(created.data.organization, organization.id); // from X-Organization-ID
  assert.equal(created.data.name, "Ada Lovelace");
  assert.match(created.data.code, /^CUS-\d{6}$/);

  const found = await client.GET("/api/customers/", {
    params: { query: { search: "Ada Lovelace" } },
  });
  assert.deepEqual(found.data.results.map((row) => row.id), [created.data.id]);

  const refused = await client.POST("/api/customers/", { body: { name: "", email: "nope" } });
  assert.equal(refused.response.status, 400);
  assert.deepEqual(Object.keys(refused.error.details).sort(), ["email", "name"]);
});
