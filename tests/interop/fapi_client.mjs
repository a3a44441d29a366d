// A real third-party client library, openid-client v6, against the real
// auth-server and resource-server: private_key_jwt client authentication
// (RFC 7523), a pushed authorization request (RFC 9126), PKCE, DPoP-bound
// tokens (RFC 9449), then a DPoP call to the resource-server.
//
//   node fapi_client.mjs keygen DIR   writes DIR/jwks.json (public, to
//                                     register) and DIR/private.jwk
//   node fapi_client.mjs run DIR      with ISSUER, CLIENT_ID, REDIRECT_URI,
//                                     USERNAME, PASSWORD, RESOURCE_URL set
//
// The browser step is done with fetch: the sign-in form is posted with its
// CSRF token and cookie, consent is given, and the code is read from the
// redirect. Prints one JSON line on success; exits non-zero otherwise.

import { readFileSync, writeFileSync } from 'node:fs';
import * as client from 'openid-client';

const KID = 'interop-es256';
const [mode, dir] = process.argv.slice(2);

if (mode === 'keygen') {
  const pair = await crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' },
    true,
    ['sign', 'verify'],
  );
  const pub = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const priv = await crypto.subtle.exportKey('jwk', pair.privateKey);
  writeFileSync(`${dir}/jwks.json`, JSON.stringify({
    keys: [{ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid: KID, alg: 'ES256', use: 'sig' }],
  }));
  writeFileSync(`${dir}/private.jwk`, JSON.stringify(priv));
  process.exit(0);
}
if (mode !== 'run') {
  console.error('usage: fapi_client.mjs keygen|run DIR');
  process.exit(2);
}

function setting(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const issuer = new URL(setting('ISSUER'));
const redirectUri = setting('REDIRECT_URI');
const privateKey = await crypto.subtle.importKey(
  'jwk',
  JSON.parse(readFileSync(`${dir}/private.jwk`, 'utf8')),
  { name: 'ECDSA', namedCurve: 'P-256' },
  false,
  ['sign'],
);

// Discovery (OpenID Connect), and client authentication by assertion.
const config = await client.discovery(
  issuer,
  setting('CLIENT_ID'),
  { token_endpoint_auth_method: 'private_key_jwt' },
  client.PrivateKeyJwt({ key: privateKey, kid: KID }),
  { execute: [client.allowInsecureRequests] },
);

// The DPoP key the tokens will be bound to.
const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));

const codeVerifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const authorizationUrl = await client.buildAuthorizationUrlWithPAR(
  config,
  {
    redirect_uri: redirectUri,
    scope: 'profile:read',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  },
  { DPoP: dpop },
);
if (!authorizationUrl.searchParams.get('request_uri')) {
  throw new Error(`the authorization URL names no request_uri: ${authorizationUrl}`);
}

// The browser: cookies kept, redirects not followed.
const cookies = new Map();
async function browse(url, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (cookies.size > 0) {
    headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';', 1)[0];
    const at = pair.indexOf('=');
    cookies.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return response;
}

function unescapeHtml(text) {
  return text
    .replaceAll('&quot;', '"').replaceAll('&#34;', '"')
    .replaceAll('&#x27;', "'").replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<').replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

function hiddenFields(html) {
  const fields = {};
  for (const match of html.matchAll(/name="([^"]+)" value="([^"]*)"/g)) {
    fields[match[1]] = unescapeHtml(match[2]);
  }
  return fields;
}

async function submit(html, extra) {
  const body = new URLSearchParams({ ...hiddenFields(html), ...extra });
  return browse(new URL('/oauth/authorize', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
}

const page = await browse(authorizationUrl);
if (page.status !== 200) throw new Error(`the sign-in page answered ${page.status}`);
let answer = await submit(await page.text(), {
  action: 'login',
  username: setting('USERNAME'),
  password: setting('PASSWORD'),
});
if (answer.status === 200) {
  answer = await submit(await answer.text(), { action: 'allow' });
}
if (answer.status !== 303) throw new Error(`consent answered ${answer.status}`);
const callback = new URL(answer.headers.get('location'));
if (!callback.searchParams.get('code')) throw new Error(`no code in ${callback}`);

// The code redeemed with a DPoP proof (and a client assertion).
const tokens = await client.authorizationCodeGrant(
  config,
  callback,
  { pkceCodeVerifier: codeVerifier, expectedState: state },
  undefined,
  { DPoP: dpop },
);
if (tokens.token_type?.toLowerCase() !== 'dpop') {
  throw new Error(`token_type is ${tokens.token_type}, not DPoP`);
}

// The resource-server, under the DPoP scheme with a fresh proof.
const response = await client.fetchProtectedResource(
  config,
  tokens.access_token,
  new URL('/profile/me', setting('RESOURCE_URL')),
  'GET',
  undefined,
  undefined,
  { DPoP: dpop },
);
if (response.status !== 200) {
  throw new Error(`/profile/me answered ${response.status}: ${await response.text()}`);
}
const profile = await response.json();
console.log(JSON.stringify({ token_type: tokens.token_type, scope: tokens.scope, profile }));
