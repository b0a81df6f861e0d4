// An oidc-provider authorization server on 127.0.0.1 for the interop tests: DPoP enabled,
// one confidential client with the client_credentials grant, and JWT access tokens for one
// resource (its audience comes from the command line).
//
// Usage: node provider.mjs <audience>
// Prints one JSON line {"issuer": "http://127.0.0.1:<port>", "client_id", "client_secret"}
// once it listens (on a port the system chose), then serves until it is signalled.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const audience = process.argv[2];
if (!audience) {
  process.stderr.write('usage: node provider.mjs <audience>\n');
  process.exit(2);
}

const CLIENT_ID = 'interop-client';
const CLIENT_SECRET = 'interop-client-secret-0123456789abcdef';

function signingKey(alg, kid) {
  const { privateKey } = alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), alg, kid, use: 'sig' };
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Two signing keys, so the verifier picks the token's by kid from a real set.
  jwks: { keys: [signingKey('ES256', 'interop-es256'), signingKey('RS256', 'interop-rs256')] },
  cookies: { keys: ['interop-cookie-key-not-secret'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== audience) {
          throw new Error(`unknown resource ${resourceIndicator}`);
        }
        return {
          audience,
          scope: 'read',
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET })}\n`);
