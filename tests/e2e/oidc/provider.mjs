// A real OpenID provider (panva's oidc-provider) on loopback, for the tests of
// notes-server as an OAuth 2.0 resource server. tests/support/oidc.rs runs it.
//
//   node provider.mjs genkey KID...
//       prints one private RSA JWK (2048 bits, alg RS256, use sig) per KID, one a line.
//
//   node provider.mjs serve --jwks FILE [--port PORT]
//       serves on http://127.0.0.1:PORT (PORT 0, the default, lets the system choose) with
//       issuer http://127.0.0.1:PORT, signing with the keys of FILE: a JWK Set of private
//       RSA keys ({"keys": [...]}), all published in jwks_uri, the first one signing the
//       access tokens. Prints, on stdout, one line when it listens:
//           oidc-provider: listening on http://127.0.0.1:PORT
//       and one after each reload:
//           oidc-provider: reloaded kids KID1,KID2,...
//       A line `reload` on stdin (or SIGHUP) reads FILE again and swaps in a new provider
//       with its keys, on the same port and issuer, without a restart. Exits when stdin
//       closes, on SIGTERM or SIGINT, so it never outlives the test that started it.
//       Each request it answered is logged on stderr, without its query or body:
//           oidc-provider: request GET /jwks 200
//
// Environment (all optional): OIDC_PORT (instead of --port), OIDC_CLIENT_ID and
// OIDC_CLIENT_SECRET (the client_credentials client, default notes-test-client and
// notes-test-secret), OIDC_SCOPES (the scopes any resource may be granted, space
// separated, default "notes:read notes:write"), OIDC_ACCESS_TOKEN_TTL (seconds, default
// 300).
//
// A client_credentials grant with `resource=URI` (RFC 8707) yields a JWT access token
// (RFC 9068: typ at+jwt) with aud URI, the requested scopes that OIDC_SCOPES allows,
// sub = client_id, signed RS256 by the first key. Any absolute URI is accepted as a
// resource. Without `resource`, oidc-provider issues an opaque token.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as readline from 'node:readline';

import Provider from 'oidc-provider';

const PREFIX = 'oidc-provider:';

function fail(message) {
  process.stderr.write(`${PREFIX} ${message}\n`);
  process.exit(2);
}

function genkey(kids) {
  if (kids.length === 0) fail('usage: provider.mjs genkey KID...');
  for (const kid of kids) {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    process.stdout.write(`${JSON.stringify({ ...jwk, kid, alg: 'RS256', use: 'sig' })}\n`);
  }
}

function readKeys(file) {
  let jwks;
  try {
    jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read the JWK Set ${file}: ${error.message}`);
  }
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) {
    throw new Error(`${file} is not a JWK Set with at least one key`);
  }
  for (const [i, key] of jwks.keys.entries()) {
    if (key.kty !== 'RSA' || typeof key.d !== 'string' || typeof key.kid !== 'string') {
      throw new Error(`${file}: keys[${i}] is not a private RSA JWK with a kid`);
    }
  }
  return jwks;
}

function makeProvider(issuer, jwks) {
  const clientId = process.env.OIDC_CLIENT_ID || 'notes-test-client';
  const clientSecret = process.env.OIDC_CLIENT_SECRET || 'notes-test-secret';
  const scopes = (process.env.OIDC_SCOPES || 'notes:read notes:write').split(/\s+/).filter(Boolean);
  const ttl = Number.parseInt(process.env.OIDC_ACCESS_TOKEN_TTL || '300', 10);
  const signingKid = jwks.keys[0].kid;

  return new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: scopes.join(' '),
    }],
    jwks,
    scopes: ['openid', ...scopes],
    // Fixed, test-only cookie keys: no interactive flow runs here, but oidc-provider
    // warns without them.
    cookies: { keys: ['secure-tool-tests-oidc-cookie-key'] },
    features: {
      // No login pages: only the client_credentials grant is used.
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => ({
          audience: resourceIndicator,
          scope: scopes.join(' '),
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256', kid: signingKid } },
        }),
      },
    },
    ttl: {
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL || ttl,
    },
  });
}

function serve(args) {
  let jwksFile;
  let port = process.env.OIDC_PORT || '0';
  for (let i = 0; i < args.length; i += 1) {
    if (args[i] === '--jwks') {
      jwksFile = args[i += 1];
    } else if (args[i] === '--port') {
      port = args[i += 1];
    } else {
      fail(`unknown argument ${args[i]}; usage: provider.mjs serve --jwks FILE [--port PORT]`);
    }
  }
  if (!jwksFile) fail('usage: provider.mjs serve --jwks FILE [--port PORT]');
  port = Number.parseInt(port, 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('the port must be 0..65535');

  let keys;
  try {
    keys = readKeys(jwksFile);
  } catch (error) {
    fail(error.message);
  }

  let handler = null;
  const server = http.createServer((req, res) => {
    res.on('finish', () => {
      const path = (req.url || '').split('?')[0];
      process.stderr.write(`${PREFIX} request ${req.method} ${path} ${res.statusCode}\n`);
    });
    if (handler) {
      handler(req, res);
    } else {
      res.writeHead(503).end();
    }
  });

  const shutdown = () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${port}: ${error.message}`));
  server.listen(port, '127.0.0.1', () => {
    const issuer = `http://127.0.0.1:${server.address().port}`;
    let provider;
    try {
      provider = makeProvider(issuer, keys);
    } catch (error) {
      fail(`cannot configure the provider: ${error.message}`);
    }
    handler = provider.callback();
    process.stdout.write(`${PREFIX} listening on ${issuer}\n`);

    const reload = () => {
      try {
        const next = readKeys(jwksFile);
        handler = makeProvider(issuer, next).callback();
        process.stdout.write(`${PREFIX} reloaded kids ${next.keys.map((key) => key.kid).join(',')}\n`);
      } catch (error) {
        process.stdout.write(`${PREFIX} reload failed: ${error.message}\n`);
      }
    };
    process.on('SIGHUP', reload);

    const lines = readline.createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'reload') reload();
    });
    lines.on('close', shutdown);
  });
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'genkey') {
  genkey(rest);
} else if (command === 'serve') {
  serve(rest);
} else {
  fail('usage: provider.mjs genkey KID... | provider.mjs serve --jwks FILE [--port PORT]');
}
