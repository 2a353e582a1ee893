// node-oidc-provider 9.x configured like Accord's token endpoint, for bench/oidc.
//
// One confidential client (client_secret_basic, client_credentials only), an ES256 key
// made at start, client_credentials tokens as RFC 9068 JWTs signed ES256 for 15 minutes,
// introspection (RFC 7662) by the client the token was issued to. Storage is the
// provider's in-memory adapter (its default).
//
// node-oidc-provider refuses to introspect a JWT access token ("Structured JWT Tokens
// cannot be introspected", lib/shared/reject_structured_tokens.js): a resource server
// that gets JWTs verifies them itself. Its introspectable client_credentials token is
// the opaque one, so a second resource, asked for with `resource=OPAQUE`, issues those.
//
// Usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET  (prints "ready" when listening)

import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const [port, clientId, clientSecret] = process.argv.slice(2);
if (!port || !clientId || !clientSecret) {
  console.error('usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${port}`;
const JWT = issuer; // the default resource: Accord's client tokens have aud = issuer
const OPAQUE = 'urn:accord-bench:opaque';
const SCOPE = 'member_api';
const TTL = 900; // seconds, as ACCORD_ACCESS_TOKEN_TTL's default

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signing = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench-es256' };

const resourceServers = {
  [JWT]: {
    scope: SCOPE,
    audience: JWT,
    accessTokenTTL: TTL,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  },
  [OPAQUE]: { scope: SCOPE, audience: OPAQUE, accessTokenTTL: TTL, accessTokenFormat: 'opaque' },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
      id_token_signed_response_alg: 'ES256', // the only key is ES256 (default RS256)
    },
  ],
  jwks: { keys: [signing] },
  scopes: [SCOPE],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  routes: { token: '/token', introspection: '/introspect' },
  ttl: { ClientCredentials: TTL },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // As Accord: a client may introspect only the tokens issued to it.
      allowedPolicy: (ctx, client, token) => token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => JWT,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        const server = resourceServers[indicator];
        if (!server) throw new errors.InvalidTarget();
        return server;
      },
    },
  },
});

const server = provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
