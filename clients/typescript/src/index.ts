/**
 * A typed client for the CRM API.
 *
 * `schema.ts` is generated from the API's OpenAPI schema (`make client`); this wrapper only
 * adds what every call needs: the `Authorization: Bearer <access token>` header and, when an
 * organization is chosen, `X-Organization-ID`. Paths, parameters, bodies and answers are typed
 * from the schema, so a field the API does not have (`full_name` on a customer, camelCase keys)
 * is a compile error, not a silent `undefined`.
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** A schema component by name: `Schema<"Customer">`, `Schema<"ErrorEnvelope">`. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];

/** The error envelope every failed call answers: `{error, details, status_code}`. */
export type ApiError = Schema<"ErrorEnvelope">;

/** What the next requests send; change it at any time (after login, on switching organization). */
export interface CrmSession {
  /** The access token from `POST /api/auth/login/` (`tokens.access`) or `/api/auth/refresh/`. */
  accessToken?: string;
  /** Act within this organization only (lists are narrowed, creates go there). */
  organizationId?: number;
}

export type CrmClient = Client<paths> & { session: CrmSession };

export interface CrmClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** Where the API is served, without the `/api/...` path: `https://crm.example.com`. */
  baseUrl: string;
  session?: CrmSession;
}

export function createCrmClient({ baseUrl, session = {}, ...options }: CrmClientOptions): CrmClient {
  const client = createClient<paths>({ baseUrl, ...options });
  client.use({
    onRequest({ request }) {
      if (session.accessToken !== undefined) {
        request.headers.set("Authorization", `Bearer ${session.accessToken}`);
      }
      if (session.organizationId !== undefined) {
        request.headers.set("X-Organization-ID", String(session.organizationId));
      }
      return request;
    },
  });
  return Object.assign(client, { session });
}

/** Log in and keep the access token on the client's session; the answer's user and tokens. */
export async function login(client: CrmClient, email: string, password: string) {
  const { data, error, response } = await client.POST("/api/auth/login/", {
    body: { email, password },
  });
  if (data === undefined) {
    throw new Error(`login failed (${response.status}): ${JSON.stringify(error)}`);
  }
  client.session.accessToken = data.tokens.access;
  return data;
}
