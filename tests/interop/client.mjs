// A DPoP client for the interop tests, made of independent implementations: panva's `dpop`
// and `oauth4webapi`. It is a small JSON-over-HTTP server on 127.0.0.1 that the Python tests
// drive; every answer is JSON, and an error is {"error": message} with status 500.
//
// Usage: node client.mjs
// Prints one JSON line {"port": <port>} once it listens (on a port the system chose), then
// serves until it is signalled.
//
// POST /key      {library: "dpop" | "oauth4webapi", alg}
//                -> {key, library, jwk, jkt}: a new key pair made by that library, its public JWK and
//                   its RFC 7638 thumbprint as that library computes it.
// POST /proof    {key, library?, method, url, access_token?, nonce?}
//                -> {dpop, authorization?}: with library "dpop", generateProof(keypair, url,
//                   method, nonce, access_token); with "oauth4webapi" (no nonce), the headers
//                   protectedResourceRequest sends for that request, captured without sending.
// POST /request  {key, method, url, access_token}
//                -> {status, body, attempts}: oauth4webapi's protectedResourceRequest sent for
//                   real, retried once when the server asks for a DPoP nonce; attempts lists
//                   each answer: status, the WWW-Authenticate challenges as oauth4webapi
//                   parsed them ({scheme, parameters}), whether it offered a DPoP-Nonce.
// POST /token    {key, issuer, client_id, client_secret, resource}
//                -> the token response of a client_credentials grant with a DPoP proof,
//                   after discovery, both by oauth4webapi (retried once for a nonce).
import * as http from 'node:http';
import * as dpop from 'dpop';
import * as oauth from 'oauth4webapi';

const keys = new Map();
let counter = 0;

async function publicJwk(publicKey) {
  const { kty, crv, x, y, n, e } = await crypto.subtle.exportKey('jwk', publicKey);
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
}

function entry(id) {
  const found = keys.get(id);
  if (!found) throw new Error(`unknown key ${id}`);
  return found;
}

function challenges(error) {
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return error.cause.map(({ scheme, parameters }) => ({ scheme, parameters }));
  }
  return [];
}

const insecure = { [oauth.allowInsecureRequests]: true };

const routes = {
  async '/key'({ library, alg }) {
    let keyPair;
    let jkt;
    if (library === 'dpop') {
      keyPair = await dpop.generateKeyPair(alg);
      jkt = await dpop.calculateThumbprint(keyPair.publicKey);
    } else if (library === 'oauth4webapi') {
      keyPair = await oauth.generateKeyPair(alg);
      jkt = await oauth.DPoP({}, keyPair).calculateThumbprint();
    } else {
      throw new Error(`unknown library ${library}`);
    }
    counter += 1;
    const key = `${library}-${alg}-${counter}`;
    // One oauth4webapi handle per key: it keeps the nonces servers gave, per origin.
    keys.set(key, { library, keyPair, handle: oauth.DPoP({}, keyPair) });
    return { key, library, jwk: await publicJwk(keyPair.publicKey), jkt };
  },

  async '/proof'({ key, library, method, url, access_token: accessToken, nonce }) {
    const found = entry(key);
    const which = library ?? found.library;
    if (which === 'dpop') {
      return { dpop: await dpop.generateProof(found.keyPair, url, method, nonce, accessToken) };
    }
    if (nonce !== undefined) throw new Error('oauth4webapi takes nonces from server answers only');
    let sent;
    const capture = async (_url, options) => {
      sent = options.headers;
      return new Response(null, { status: 204 });
    };
    await oauth.protectedResourceRequest(accessToken, method, new URL(url), undefined, undefined, {
      ...insecure,
      DPoP: oauth.DPoP({}, found.keyPair),
      [oauth.customFetch]: capture,
    });
    return { dpop: sent.dpop, authorization: sent.authorization };
  },

  async '/request'({ key, method, url, access_token: accessToken }) {
    const found = entry(key);
    const attempts = [];
    for (let attempt = 0; attempt < 2; attempt += 1) {
      let response;
      try {
        response = await oauth.protectedResourceRequest(accessToken, method, new URL(url), undefined, undefined, {
          ...insecure,
          DPoP: found.handle,
        });
      } catch (error) {
        attempts.push({
          status: error.response?.status ?? null,
          challenges: challenges(error),
          nonce_offered: Boolean(error.response?.headers.get('dpop-nonce')),
          nonce_error: oauth.isDPoPNonceError(error),
        });
        if (oauth.isDPoPNonceError(error) && attempt === 0) continue;
        return { status: attempts.at(-1).status, body: null, attempts };
      }
      attempts.push({
        status: response.status,
        challenges: [],
        nonce_offered: Boolean(response.headers.get('dpop-nonce')),
        nonce_error: false,
      });
      return { status: response.status, body: await response.json(), attempts };
    }
    throw new Error('unreachable');
  },

  async '/token'({ key, issuer, client_id: clientId, client_secret: clientSecret, resource }) {
    const found = entry(key);
    const issuerUrl = new URL(issuer);
    const as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, insecure));
    const client = { client_id: clientId };
    const auth = oauth.ClientSecretBasic(clientSecret);
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { resource }, {
          ...insecure,
          DPoP: found.handle,
        });
        return await oauth.processClientCredentialsResponse(as, client, response);
      } catch (error) {
        if (oauth.isDPoPNonceError(error) && attempt === 0) continue;
        throw error;
      }
    }
  },
};

async function readJson(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

const server = http.createServer(async (request, response) => {
  let status = 200;
  let body;
  try {
    const route = routes[request.url];
    if (request.method !== 'POST' || !route) {
      status = 404;
      body = { error: `no route ${request.method} ${request.url}` };
    } else {
      body = await route(await readJson(request));
    }
  } catch (error) {
    status = 500;
    body = { error: `${error.name}: ${error.message}`, code: error.code ?? null };
  }
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
